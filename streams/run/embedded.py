"""`platestream run`: synthetic cameras through the same core the Kafka workers run, into embedded ClickHouse."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from streams import metrics
from streams.config.settings import Settings, load_policy, policy_lut
from streams.core.hotlist import HotList
from streams.core.pipeline import Processor
from streams.core.policy import admit
from streams.loadtest.synth import Synth, SynthConfig
from streams.model.batch import Totals
from streams.model.decoded import Decoded
from streams.model.read import HEARTBEAT_SCHEMA
from streams.run.report import build_report, month_of
from streams.run.report_render import write_report
from streams.store import audit
from streams.store.aggregates import write_aggregates, write_expiry
from streams.store.clickhouse import migrate, open_store


@dataclass
class RunSummary:
    totals: Totals
    seconds: float
    hotlist_admitted: int
    hotlist_refused: dict[str, int]
    stored: dict[str, int] = field(default_factory=dict)  # what ClickHouse holds after the run
    report_html: Path | None = None  # the transparency report of the run's month

    @property
    def reads_per_second(self) -> float:
        return self.totals.reads / self.seconds if self.seconds else 0.0


def run_embedded(
    settings: Settings,
    reads: int = 3_000_000,
    batch: int = 250_000,
    seed: int = 7,
    console: Console | None = None,
    report_dir: Path | None = Path("out/run-report"),
) -> RunSummary:
    console = console or Console(stderr=True)
    policy = load_policy(settings.policy_path)
    synth = Synth(SynthConfig(seed=seed))
    start = synth.cfg.start_ms
    admission = admit(synth.hotlist(start), policy, start)
    # No read store here: the synthetic reads carry event times months in the past, which the store's TTL would
    # drop on insert. The read store, holds and the purge job run in the workers (docs/retention.md).
    config = replace(settings.processor_config(policy), keep_reads="none")
    processor = Processor(HotList.build(admission.admitted), config, policy_lut(policy))

    # A fresh embedded store per run, so its counts are this run's counts.
    path = Path(settings.chdb_path)
    shutil.rmtree(path, ignore_errors=True)
    store = open_store(None, path)
    migrate(store, settings.aggregate_ttl_days)
    audit.configure(settings.audit_signer(), settings.audit_trusted_keys())  # the purge's records are signed

    totals = Totals()
    t0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]reads"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("reads", total=reads, rate="")
        for i, table in enumerate(synth.batches(reads, batch)):
            now = int(table["captured_at"].cast("int64")[-1].as_py())  # event time: the run is repeatable
            b0 = time.perf_counter()
            result = processor.process(Decoded(table, HEARTBEAT_SCHEMA.empty_table()), now, "synthetic")
            metrics.record(result, "synthetic", time.perf_counter() - b0)
            expired = processor.expire(now)
            totals.add(result)
            totals.expired += expired
            write_aggregates(store, result, f"run-{seed}-{i}")
            write_expiry(store, expired, now, processor.config.bucket_ms, f"run-{seed}-{i}")
            done = totals.reads + totals.dead_letters
            rate = done / (time.perf_counter() - t0)
            progress.update(task, completed=min(done, reads), rate=f"{rate:,.0f} reads/s")
    seconds = time.perf_counter() - t0
    html = None
    try:
        stored = _stored_counts(store)
        if report_dir is not None:  # the run's month, as the aggregates stand at the run's last event time
            report = build_report(store, settings, month_of(start), int(now) if reads else start)
            html = write_report(report, report_dir)
    finally:
        store.close()
    return RunSummary(totals, seconds, admission.admitted.num_rows, admission.refused_by_rule(), stored, html)


def _stored_counts(store) -> dict[str, int]:  # noqa: ANN001
    q = store.query_arrow(
        "SELECT (SELECT sum(reads) FROM read_counts) AS reads, (SELECT sum(duplicates) FROM read_counts) AS dups,"
        " (SELECT sum(hits) FROM hit_counts) AS hits, (SELECT sum(expired) FROM expiry_counts) AS expired"
    ).to_pylist()[0]
    return {k: int(v or 0) for k, v in q.items()}


def print_summary(s: RunSummary, console: Console | None = None) -> None:
    console = console or Console()
    t = s.totals
    table = Table(title="platestream run (embedded)", show_header=False, title_justify="left")
    table.add_row("reads in", f"{t.reads + t.dead_letters:,}")
    table.add_row("duplicates dropped", f"{t.duplicates:,}")
    table.add_row("dead letters", f"{t.dead_letters:,}")
    table.add_row(
        "hot-list entries",
        f"{s.hotlist_admitted:,} admitted, "
        + (", ".join(f"{v} {k}" for k, v in sorted(s.hotlist_refused.items())) or "none")
        + " refused",
    )
    table.add_row("hits", f"{t.hits:,} ({t.alerts:,} alerts, all unverified)")
    for reason, n in sorted(t.hits_by_reason.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {reason}", f"{n:,}")
    table.add_row("hits by match kind", ", ".join(f"{k} {v:,}" for k, v in sorted(t.hits_by_kind.items())))
    table.add_row("reads expired", f"{t.expired:,} (processor state, at the retention limit)")
    table.add_row("throughput", f"{s.reads_per_second:,.0f} reads/s over {s.seconds:.1f} s")
    table.add_row(
        "in ClickHouse",
        f"reads {s.stored.get('reads', 0):,}, duplicates {s.stored.get('dups', 0):,}, "
        f"hits {s.stored.get('hits', 0):,}, expired {s.stored.get('expired', 0):,}",
    )
    console.print(table)
    if s.report_html is not None:
        console.print(f"transparency report: {s.report_html}")
