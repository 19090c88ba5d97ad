"""The accepted extract formats by name, and one entry point that reads any of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streams.errors import HotlistError
from streams.ingest.extracts.entries import Extract
from streams.ingest.extracts.genetec import read_genetec
from streams.ingest.extracts.ncic import read_ncic_delimited, read_ncic_fixed
from streams.ingest.extracts.own_csv import read_own_csv
from streams.ingest.extracts.rules import ExtractPolicy

__all__ = ["FORMATS", "read_extract"]

Reader = Callable[[str | Path, ExtractPolicy, str, int], Extract]
FORMATS: dict[str, Reader] = {
    "csv": read_own_csv,
    "ncic-fixed": read_ncic_fixed,
    "ncic-delimited": read_ncic_delimited,
    "genetec": read_genetec,
}


def read_extract(path: str | Path, fmt: str, policy: ExtractPolicy, source: str, now_ms: int) -> Extract:
    """The entries of ``path`` read as ``fmt`` (one of ``FORMATS``), their missing expiries set at ``now_ms``."""
    reader = FORMATS.get(fmt)
    if reader is None:
        raise HotlistError(f"unknown extract format {fmt!r}; known: {', '.join(FORMATS)}")
    return reader(path, policy, source, now_ms)
