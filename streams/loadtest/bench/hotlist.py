"""The bench's hot lists: every level's synthetic network, the extra entries it clears during the load, and
the CSV extract the workers load at start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from streams.loadtest.arrow_strings import symbol_strings
from streams.loadtest.bench.options import BenchOptions
from streams.loadtest.generator import worker_seed
from streams.loadtest.synth import Synth, SynthConfig
from streams.model.hotlist import ENTRY_SCHEMA

CLEAR_PREFIX = "BENCHCLR"
DAY_MS = 86_400_000


def random_entries(n: int, now_ms: int, prefix: str = CLEAR_PREFIX, seed: int = 1) -> pa.Table:
    """``n`` admitted entries of a plate format the synthetic cameras never read (2 letters, 5 digits)."""
    rng = np.random.default_rng(seed)
    sym = np.zeros((n, 12), np.uint8)
    sym[:, 0:2] = rng.integers(11, 37, (n, 2))
    sym[:, 2:7] = rng.integers(1, 11, (n, 5))
    const = lambda v: pa.array([v], pa.string()).take(pa.array(np.zeros(n, np.int32)))  # noqa: E731
    ts = lambda v: pa.array(np.full(n, v, np.int64)).cast(pa.timestamp("ms", tz="UTC"))  # noqa: E731
    return pa.table(
        {
            "entry_id": pa.array(np.char.add(prefix, np.arange(n).astype(str)).astype(object), pa.string()),
            "plate": symbol_strings(sym),
            "region": const("CA"),
            "plate_type": const("PC"),
            "reason": const("stolen_vehicle"),
            "legal_basis_type": const("record_number"),
            "legal_basis": const("NCIC0000001"),
            "agency": const("CA0000000"),
            "entered_by": const("bench"),
            "source": const("ncic_extract"),
            "valid_from": ts(now_ms - DAY_MS),
            "expires_at": ts(now_ms + 20 * DAY_MS),
        },
        schema=ENTRY_SCHEMA,
    )


def write_hotlist_csv(entries: pa.Table, path: Path) -> None:
    """Entries (``ENTRY_SCHEMA``) as the NCIC-extract CSV that ``platestream worker`` loads at start."""
    iso = {
        c: pc.strftime(entries[c].cast(pa.timestamp("s", tz="UTC"), safe=False), format="%Y-%m-%dT%H:%M:%S")
        for c in ("valid_from", "expires_at")
    }
    warrant = pc.equal(entries["legal_basis_type"], "warrant")
    empty = pa.scalar("", pa.string())
    table = pa.table(
        {
            "entry_id": entries["entry_id"],
            "plate": entries["plate"],
            "state": entries["region"],
            "type": entries["plate_type"],
            "reason": entries["reason"],
            "record_number": pc.if_else(warrant, empty, entries["legal_basis"]),
            "warrant_number": pc.if_else(warrant, entries["legal_basis"], empty),
            "entry_date": iso["valid_from"],
            "expires_at": iso["expires_at"],
        }
    )
    pacsv.write_csv(table, path)


def admitted_plates(entries: pa.Table, now_ms: int) -> list[dict]:
    """(plate, region) of entries that will match: a legal basis and not expired."""
    ok = pc.and_(pc.not_equal(entries["legal_basis"], ""), pc.greater(entries["expires_at"].cast(pa.int64()), now_ms))
    return entries.filter(ok).select(["plate", "region"]).to_pylist()


def network_hotlist(opts: BenchOptions, now_ms: int) -> pa.Table:
    """The hot lists of every level's synthetic network (entry ids made unique per level)."""
    tables = []
    for i in range(len(opts.levels)):
        t = Synth(SynthConfig(seed=worker_seed(opts.seed, i), start_ms=now_ms)).hotlist(now_ms)
        ids = pc.binary_join_element_wise(pa.scalar(f"L{i}-"), t["entry_id"], "")
        tables.append(t.set_column(0, t.schema.field(0), ids))
    return pa.concat_tables(tables)
