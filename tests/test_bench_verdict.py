"""The load bench's pure parts: ramp levels, the sustained verdict from lag samples, percentiles, profile shares."""

from __future__ import annotations

import pytest

from streams.errors import PlatestreamError
from streams.loadtest.bench import BenchOptions, judge_level, parse_ramp, percentiles_ms, profile_summary


def test_parse_ramp_includes_stop_and_refuses_nonsense():
    assert parse_ramp("100000:500000:100000") == [100_000, 200_000, 300_000, 400_000, 500_000]
    assert parse_ramp("1_000:1_500:1_000") == [1000]
    for bad in ("1:2", "a:b:c", "0:10:1", "10:5:1", "1:1000:1"):
        with pytest.raises(PlatestreamError):
            parse_ramp(bad)


def _level(samples_lag: list[int], messages: int = 20, seconds: float = 10.0) -> tuple[dict, list[dict]]:
    """Samples every 0.5 s over a level of ``seconds``; the worker counts 10,000 reads per sample."""
    samples = [
        {"t": 100.0 + 0.5 * i, "sent": 0, "processed": [10_000 * i], "lag_messages": lag, "cpu": {"worker0": 0.25 * i}}
        for i, lag in enumerate(samples_lag)
    ]
    level = {"messages_sent": messages, "_samples": (0, len(samples)), "_t": (100.0, 100.0 + seconds)}
    return level, samples


def test_steady_lag_is_sustained_and_growing_lag_is_not():
    opts = BenchOptions(levels=[1.0], lag_tolerance_s=1.0)
    # 2 messages/s sent; tolerance max(1 s x 2 msg/s, 2 per partition x 2) = 4 messages
    steady, samples = _level([3, 5, 2, 4, 3, 5, 2, 4, 3, 5, 2, 4, 3, 5, 2, 4, 3, 5, 2, 4, 3])
    verdict = judge_level(steady, samples, opts, partitions=2)
    assert verdict["sustained"] and abs(verdict["lag_growth_messages"]) < 4
    assert verdict["processed_reads_per_s"] == 20_000  # 10,000 reads per 0.5 s
    assert verdict["worker_cpu_s_per_million_reads"] == pytest.approx(25.0)

    growing, samples = _level([i // 2 for i in range(21)])  # +1 message per second: +10 over the level
    verdict = judge_level(growing, samples, opts, partitions=2)
    assert not verdict["sustained"] and verdict["lag_growth_messages"] == pytest.approx(10, abs=0.5)


def test_percentiles_are_ordered_and_in_ms():
    q = percentiles_ms([1_000 * i for i in range(1, 1001)])  # 1 ms .. 1000 ms
    assert q["count"] == 1000
    assert q["p50"] == pytest.approx(500, rel=0.01) and q["p99"] == pytest.approx(990, rel=0.01)
    assert q["p50"] <= q["p90"] <= q["p99"] <= q["p99.9"] <= q["max"] == pytest.approx(1000, rel=0.01)
    assert percentiles_ms([]) == {"count": 0}


def test_profile_shares_per_thread_and_stage(tmp_path):
    raw = tmp_path / "p.txt"
    raw.write_text(
        "thread (1): MainThread;run (faust);process (streams/core/pipeline.py:140);dedup (x.py:1) 30\n"
        "thread (2): platestream-sink_0;handle (w.py:1);write_aggregates (streams/store/sink.py:9) 20\n"
        "thread (3): Thread-4 (run);poll (aiokafka/consumer.py:1) 10\n"
    )
    prof = profile_summary(raw, seconds=5.0)  # 100 samples for a thread busy the whole time
    assert prof["samples"] == 60
    assert prof["thread_busy_share"] == {
        "MainThread": 0.3,
        "platestream-sink": 0.2,
        "other threads (Faust, aiokafka)": 0.1,
    }
    assert prof["stage_share"]["core (Processor.process)"] == 0.3
    assert prof["stage_share"]["sink: ClickHouse aggregates"] == 0.2
