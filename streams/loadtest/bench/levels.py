"""The load: a warm-up, then level by level synthetic reads at the level's rate with probe reads in every batch."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from streams.clock import now_ms
from streams.errors import PlatestreamError
from streams.kafka.producer import make_producer, send_reads
from streams.loadtest.bench.options import BenchOptions
from streams.loadtest.bench.probes import probe_rows
from streams.loadtest.bench.sampler import Sampler
from streams.loadtest.bench.stack import Stack
from streams.loadtest.bench.verdict import judge_level
from streams.loadtest.generator import reads
from streams.loadtest.synth import SynthConfig
from streams.loadtest.token_bucket import TokenBucket


@dataclass
class LoadState:
    processed_before: int = 0  # the workers' counters when the levels start (after the warm-up)
    sent: int = 0
    messages: int = 0
    probes: int = 0
    level: int = -1
    delivery_errors: int = 0
    levels: list[dict] = field(default_factory=list)


def drive_levels(stack: Stack, opts: BenchOptions, state: LoadState, hot: list[dict], sampler: Sampler) -> None:
    """Each level: reads at its rate for ``step_seconds``, ``probes_per_batch`` probe reads in every batch."""
    settings = stack.settings()

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            state.delivery_errors += 1

    producer = make_producer(settings, on_delivery=delivered, **{"linger.ms": 5})
    unsustained = 0
    for li, rate in enumerate(opts.levels):
        rows = opts.batch
        source = reads(
            opts.seed,
            li,
            len(opts.levels),
            None,
            rows,
            now_ms(),
            passages_per_second=rate / SynthConfig.mean_frames,
            realism=False,  # the classic mix: its hot list is the one loaded, and it costs the generator least
        )
        bucket = TokenBucket(rate, burst=rows, initial=0)
        first = next(source)  # builds the level's camera network before the clock starts
        sent0, msgs0, probes0 = state.sent, state.messages, state.probes
        state.level = li
        t0 = time.monotonic()
        s0 = len(sampler.samples)
        table: pa.Table | None = first
        while time.monotonic() - t0 < opts.step_seconds:
            if table is None:
                table = next(source)
            k = opts.probes_per_batch
            bucket.take(table.num_rows + k)
            if k:
                probes = probe_rows(table, hot, state.probes, k, li, now_ms())
                table = pa.concat_tables([table, probes])
            while len(producer) > 10_000:
                producer.poll(0.05)
            state.messages += send_reads(producer, settings, table, stack.partitions, max_rows=table.num_rows)
            state.sent += table.num_rows
            state.probes += k
            table = None
        producer.flush(60)
        t1 = time.monotonic()
        time.sleep(sampler.every * 1.5)  # a sample after the level's last send
        level = {
            "offered_reads_per_s": rate,
            "reads_per_message": round((state.sent - sent0) / max(1, state.messages - msgs0)),
            "seconds": round(t1 - t0, 2),
            "reads_sent": state.sent - sent0,
            "messages_sent": state.messages - msgs0,
            "probes": state.probes - probes0,
            "achieved_input_reads_per_s": round((state.sent - sent0) / (t1 - t0)),
            "_samples": (s0, len(sampler.samples)),
            "_t": (t0, t1),
        }
        level.update(judge_level(level, sampler.samples, opts, stack.partitions))
        state.levels.append(level)
        print(
            f"level {li + 1}/{len(opts.levels)}: offered {rate:,.0f}, sent {level['achieved_input_reads_per_s']:,}, "
            f"processed {level['processed_reads_per_s']:,} reads/s; lag growth {level['lag_growth_messages']} "
            f"messages -> {'sustained' if level['sustained'] else 'NOT sustained'}",
            file=sys.stderr,
            flush=True,
        )
        if not level["sustained"]:
            unsustained += 1
            if unsustained > opts.stop_after_unsustained:
                break


def drain_to(sampler: Sampler, target: int, timeout: float) -> dict:
    """Until the workers' counters (reads + dead letters, all workers) reach ``target``."""
    t0 = time.monotonic()
    processed = 0
    while time.monotonic() - t0 < timeout:
        try:
            processed = sum(sampler.processed())
        except OSError:
            pass
        if processed >= target:
            break
        time.sleep(0.2)
    return {"seconds": round(time.monotonic() - t0, 2), "processed": processed, "complete": processed >= target}


def warm_up(stack: Stack, opts: BenchOptions, sampler: Sampler) -> dict:
    """Two batches from a network of its own, before anything is measured: the workers' first batch pays for
    start-up (producer id, first store writes), which is not what a level should measure."""
    settings = stack.settings()
    producer = make_producer(settings)
    sent = 0
    t0 = time.monotonic()
    for table in reads(opts.seed + 1, 0, 1, 2 * opts.batch, opts.batch, now_ms(), realism=False):
        send_reads(producer, settings, table, stack.partitions, max_rows=table.num_rows)
        sent += table.num_rows
    producer.flush(60)
    done = drain_to(sampler, sent, 120)
    if not done["complete"]:
        raise PlatestreamError(f"warm-up: the workers counted {done['processed']} of {sent} reads in 120 s")
    return {"reads": sent, "seconds": round(time.monotonic() - t0, 2)}
