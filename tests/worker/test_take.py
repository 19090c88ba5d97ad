"""A take of several pieces: each piece's aggregates under its own token, the take's hits and reads in one insert
each; a redelivery cut into other takes counts nothing twice and keeps one row per hit and read."""

from __future__ import annotations

from collections import Counter

from streams.worker.pieces import Matched
from tests.worker.conftest import HOT_PLATE, decoded, read
from tests.worker.fakes import FlakyStore


def one(store, sql: str) -> int:  # noqa: ANN001
    return store.query_arrow(sql)["n"][0].as_py()


def test_a_take_writes_hits_and_reads_once_and_each_pieces_aggregates(make_worker, store, clock) -> None:  # noqa: ANN001
    flaky = FlakyStore(store, failures=0)
    w = make_worker(store=flaky).worker
    assert w.keys is not None  # the read store is on: its inserts are part of what is counted
    t = clock.now_ms()
    tokens = ["t.reads.json/0/0..1", "t.reads.json/1/0..0"]
    results = [
        w.process(decoded([read("r1", HOT_PLATE, t), read("r2", "QQ11ZZ", t + 1)], "reads.json/0"), "reads.json"),
        w.process(decoded([read("r3", "WW22YY", t + 2, camera="cam-2")], "reads.json/1"), "reads.json"),
    ]
    pieces = [Matched(r, tok, 0.0, w.publish(r, "reads.json")) for r, tok in zip(results, tokens, strict=True)]
    w.handle_take(pieces, "reads.json")
    per_table = Counter(table for table, _ in flaky.inserts)
    assert per_table["hits"] == 1 and per_table["reads"] == 1
    assert per_table["read_counts"] == 2  # one per piece, each under its piece's token
    assert {tok for table, tok in flaky.inserts if table == "read_counts"} == {f"{tok}:read_counts" for tok in tokens}
    assert w.batches == 2
    # Redelivered after a crash and taken otherwise (a piece a take): the counts stay, one row per hit and read.
    for piece in pieces:
        w.handle_take([piece], "reads.json")
    assert one(store, "SELECT sum(reads) AS n FROM read_counts") == 3
    assert one(store, "SELECT count() AS n FROM hits FINAL") == 1
    assert one(store, "SELECT count() AS n FROM reads FINAL") == 3
    assert one(store, "SELECT uniqExact(read_id) AS n FROM reads") == 3
