"""A text file as one Arrow string per line, with its 1-based line numbers; and a line split into fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from streams.errors import HotlistError

__all__ = ["read_lines", "split_fields"]


def read_lines(path: str | Path, what: str) -> tuple[pa.Array, np.ndarray]:
    """(non-blank lines, their line numbers). Blank lines are not records and are skipped; no quoting applies."""
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=["line"]),
            parse_options=pacsv.ParseOptions(
                delimiter="\x1e", quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise HotlistError(f"cannot read {what} {path}: {exc}") from None
    text = table["line"].combine_chunks() if table.num_rows else pa.array([], pa.string())
    numbers = np.arange(1, len(text) + 1, dtype=np.int64)
    keep = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(zero_copy_only=False)
    return text.filter(pa.array(keep)), numbers[keep]


def split_fields(text: pa.Array, delimiter: str, names: tuple[str, ...]) -> tuple[pa.Table, np.ndarray]:
    """(one column per name, how many fields each line has): fields beyond ``names`` are ignored, missing ones
    are empty strings."""
    parts = pc.split_pattern(text, pattern=delimiter)
    count = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    width = max(len(names), int(count.max()) if len(count) else 0)
    # pad every line to the same width so list_element never runs past a short line
    padded = pc.list_slice(parts, 0, width, return_fixed_size_list=True)
    cols = {n: pc.fill_null(pc.list_element(padded, i), "") for i, n in enumerate(names)}
    return pa.table(cols) if names else pa.table({}), count
