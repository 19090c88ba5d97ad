"""Load generator: synthetic reads at a target rate, batch by batch in constant memory, to a sink
(``streams.loadtest.sinks``: Kafka or Parquet). Replays of recorded reads are ``streams.loadtest.replay``.

Each worker (a process of ``platestream load run``) draws from its own deterministic fleet on one shared camera
map: the fleet's seed is derived from (seed, worker), the map's from seed, and every ``read_id`` carries the
worker as a prefix, so workers never send the same read. A token bucket counted in reads holds the rate.

Memory does not grow with the count: the generator holds the fleet (about 60 bytes a vehicle) and the trips in
progress (about 40 bytes each; their number grows with the event-time rate, not with the count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from streams.clock import now_ms
from streams.loadtest.synth import Synth, SynthConfig
from streams.loadtest.token_bucket import TokenBucket
from streams.model.read import READ_SCHEMA

_READ_ID = READ_SCHEMA.field("read_id")
TRAFFIC = ("flat", "daily")
# What the load generator turns on over the classic generator: a city's camera map with routes, camera OCR noise.
REALISM = {"network": True, "camera_noise": True, "cameras": 2_000, "sites": 400}
CITY_KM, CITY_PARK_S = 10.0, 300.0
# Up to this many passages/s per worker the map is a 10 km city. Above it the city shrinks in proportion (cameras
# closer together, shorter stops; speeds stay), so trips in flight and the fleet a worker holds stay bounded.
CITY_PPS = 5_000.0
MIN_VEHICLES, MAX_VEHICLES = 200_000, 3_000_000


def worker_seed(seed: int, worker: int) -> int:
    return seed * 1_000_003 + worker


def fleet_size(passages_per_second: float) -> int:
    """Vehicles a worker needs in the 10 km city so that (almost) no vehicle is sent on a trip while it is still
    on one: about 100 s of driving and parking per passage per second, three times over."""
    return int(min(MAX_VEHICLES, max(MIN_VEHICLES, min(passages_per_second, CITY_PPS) * 300)))


def synth_config(
    seed: int,
    worker: int,
    start_ms: int,
    passages_per_second: float | None = None,
    *,
    realism: bool = True,
    traffic: str = "flat",
    **overrides: Any,
) -> SynthConfig:
    """The generator's settings for one worker. ``realism`` adds the camera map, routes and camera noise;
    ``traffic="daily"`` the time-of-day curve; ``overrides`` set any other ``SynthConfig`` field."""
    if traffic not in TRAFFIC:
        raise ValueError(f"traffic must be one of {', '.join(TRAFFIC)}")
    cfg = SynthConfig(seed=worker_seed(seed, worker), start_ms=int(start_ms), daily_curve=traffic == "daily")
    if passages_per_second is not None:
        cfg = replace(cfg, passages_per_second=float(passages_per_second))
    if realism:
        scale = min(1.0, CITY_PPS / cfg.passages_per_second)
        cfg = replace(
            cfg, network_seed=seed, vehicles=fleet_size(cfg.passages_per_second), area_km=CITY_KM * scale,
            park_s=CITY_PARK_S * scale, **REALISM,
        )  # fmt: skip
    return replace(cfg, **overrides) if overrides else cfg


def reads(
    seed: int,
    worker: int,
    workers: int,
    count: int | None,
    batch: int,
    start_ms: int,
    passages_per_second: float | None = None,
    *,
    realism: bool = True,
    traffic: str = "flat",
    synth_out: list[Synth] | None = None,
    **overrides: Any,
) -> Iterator[pa.Table]:
    """Exactly ``count`` reads (endless if None) in tables of exactly ``batch`` rows (the last may be shorter).

    Deterministic for (seed, worker, workers and the options); disjoint across workers. The camera network is
    built here, before the first batch is asked for, so a caller's clock need not include it. ``synth_out``, if
    given, receives the generator (for its counters and ground truth).
    """
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    cfg = synth_config(seed, worker, start_ms, passages_per_second, realism=realism, traffic=traffic, **overrides)
    synth = Synth(cfg)
    if synth_out is not None:
        synth_out.append(synth)
    prefix = pa.scalar(f"{worker:04x}-")

    def gen() -> Iterator[pa.Table]:
        made = 0
        pending: list[pa.Table] = []
        have = 0
        while count is None or made < count:
            want = batch if count is None else min(batch, count - made)
            while have < want:
                t = synth.batch(want - have)  # about that many (whole passages); the rest waits for the next
                pending.append(t)
                have += t.num_rows
            table = pa.concat_tables(pending).combine_chunks() if len(pending) > 1 else pending[0]
            rest = table.slice(want)
            pending, have = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
            out = table.slice(0, want)
            ids = pc.binary_join_element_wise(prefix, out["read_id"], "")
            made += want
            yield out.set_column(0, _READ_ID, ids).combine_chunks()

    return gen()


def run(
    sink: Callable[[pa.Table], Any],
    *,
    rate: float | None,
    count: int | None,
    duration_s: float | None,
    batch: int,
    seed: int,
    worker: int = 0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    start_ms: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    realism: bool = True,
    traffic: str = "flat",
    on_ready: Callable[[], Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Pull batches, hold ``rate`` (reads/s, this worker's share), hand each to ``sink``; stop at ``count`` reads or
    after ``duration_s``, whichever first. If the sink has ``close()`` it is called at the end (inside the timed
    span: a Kafka flush counts) and may return ``{"errors": ..., ...}``, merged into the result.

    Event time starts at ``start_ms`` (default: now) and, when a rate is given, advances about as fast as the wall
    clock, so a long run does not drift into the future. With ``traffic="daily"`` the event-time rate follows the
    time of day, and so does the sending rate: ``rate`` is then the day's mean, and the rate of the moment is
    ``rate`` times the curve's factor at the batch's event time (from about 0.1 at night to 2 at the peaks).

    ``on_ready`` is called once the generator is built, just before the clock starts (workers wait there for
    each other).
    """
    if count is None and duration_s is None:
        raise ValueError("give count or duration_s (or both)")
    params: dict[str, Any] = dict(
        rate=rate, count=count, duration_s=duration_s, batch=batch, seed=seed, worker=worker, workers=workers,
        realism=realism, traffic=traffic, **overrides,
    )  # fmt: skip
    start_ms = now_ms() if start_ms is None else int(start_ms)
    pps = rate / SynthConfig.mean_frames if rate else None
    made: list[Synth] = []
    source = reads(
        seed, worker, workers, count, batch, start_ms, passages_per_second=pps, realism=realism, traffic=traffic,
        synth_out=made, **overrides,
    )  # fmt: skip
    curve = made[0].curve if rate and made[0].curve is not None else None
    # Starts empty: the first batch waits its share too, so short runs report an honest rate.
    bucket = TokenBucket(rate, burst=batch, clock=clock, sleep=sleep, initial=0) if rate else None
    sent = batches = 0
    if on_ready is not None:
        on_ready()
    t0 = clock()
    for table in source:
        if duration_s is not None and clock() - t0 >= duration_s:
            break
        if bucket is not None:
            if curve is not None:
                first = table["captured_at"][0].value
                bucket.set_rate(rate * float(curve.factor(first)))
            bucket.take(table.num_rows)
        sink(table)
        sent += table.num_rows
        batches += 1
        if progress is not None:
            progress(sent)
    close = getattr(sink, "close", None)
    stats = dict(close() or {}) if callable(close) else {}
    seconds = clock() - t0
    synth = made[0]
    return {
        "reads": sent,
        "batches": batches,
        "seconds": seconds,
        "rate": sent / seconds if seconds > 0 else 0.0,
        "errors": int(stats.pop("errors", 0)),
        **stats,
        "vehicles": synth.cfg.vehicles,
        "overlapping_trips": synth.overlaps,
        "event_time": {"first_ms": start_ms, "last_ms": int(synth.t_ms)},
        "parameters": params,
    }
