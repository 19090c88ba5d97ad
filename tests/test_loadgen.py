"""The load generator: deterministic, disjoint workers, exact batches, a rate that holds, hourly Parquet; the camera
map's routes, the daily curve and camera noise checked against ground truth; replay pacing on a fake clock."""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from streams.loadtest.arrow_strings import symbol_strings
from streams.loadtest.daily_curve import HOURLY_TRAFFIC
from streams.loadtest.generator import reads, run
from streams.loadtest.replay import RAW_SCHEMA, ReplayError, json_chunks, parquet_chunks, replay, replay_inputs
from streams.loadtest.sinks import HOUR_MS, parquet_sink
from streams.loadtest.synth import Synth, SynthConfig
from streams.loadtest.token_bucket import TokenBucket
from streams.model.read import READ_SCHEMA

START = 1_790_000_000_000


def _all(seed: int, worker: int, workers: int = 2, count: int = 25_000, batch: int = 10_000) -> list[pa.Table]:
    return list(reads(seed, worker, workers, count, batch, START))


def _ipc(t: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    return sink.getvalue().to_pybytes()


def test_same_seed_and_worker_give_identical_tables():
    a, b = _all(3, 1), _all(3, 1)
    assert len(a) == len(b) == 3
    assert [_ipc(x) for x in a] == [_ipc(y) for y in b]  # byte for byte
    assert all(x.schema.equals(READ_SCHEMA) for x in a)
    c = list(reads(4, 1, 2, 25_000, 10_000, START))
    assert _ipc(c[0]) != _ipc(a[0])


def test_workers_are_disjoint():
    w0 = pa.concat_tables(_all(3, 0))
    w1 = pa.concat_tables(_all(3, 1))
    ids0, ids1 = set(w0["read_id"].to_pylist()), set(w1["read_id"].to_pylist())
    assert len(ids0) == w0.num_rows and len(ids1) == w1.num_rows  # unique within a worker too
    assert not ids0 & ids1
    assert all(i.startswith("0000-") for i in list(ids0)[:10]) and all(i.startswith("0001-") for i in list(ids1)[:10])
    assert w0["plate"].to_pylist()[:1000] != w1["plate"].to_pylist()[:1000]


def test_exact_batches_and_count():
    sizes = [t.num_rows for t in reads(7, 0, 1, 123_457, 10_000, START)]
    assert sizes == [10_000] * 12 + [3_457]
    endless = reads(7, 0, 1, None, 5_000, START)
    assert [next(endless).num_rows for _ in range(5)] == [5_000] * 5


def test_worker_out_of_range_is_refused():
    with pytest.raises(ValueError):
        reads(7, 2, 2, 10, 10, START)


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_token_bucket_holds_the_rate_on_a_fake_clock():
    clock = FakeClock()
    bucket = TokenBucket(10_000, burst=1_000, clock=clock, sleep=clock.sleep)
    bucket.take(1_000)  # the full bucket: no wait
    assert clock.t == 100.0
    t0 = clock.t
    for _ in range(10):
        bucket.take(1_000)
    assert clock.t - t0 == pytest.approx(1.0, rel=0.02)


def test_token_bucket_takes_more_than_burst_proportionally():
    clock = FakeClock()
    bucket = TokenBucket(1_000, burst=100, clock=clock, sleep=clock.sleep, initial=0)
    bucket.take(5_000)
    assert clock.t - 100.0 == pytest.approx(5.0, rel=0.02)
    clock.t += 60  # idle: refills to burst only
    t0 = clock.t
    bucket.take(100)
    assert clock.t == t0
    bucket.take(1_000)
    assert clock.t - t0 == pytest.approx(1.0, rel=0.02)


def test_run_with_fake_clock_counts_and_rate():
    clock = FakeClock()
    got: list[int] = []
    res = run(
        lambda t: got.append(t.num_rows),
        rate=10_000,
        count=10_000,
        duration_s=None,
        batch=1_000,
        seed=1,
        progress=None,
        start_ms=START,
        clock=clock,
        sleep=clock.sleep,
        realism=False,
    )
    assert got == [1_000] * 10
    assert res["reads"] == 10_000 and res["errors"] == 0
    assert res["seconds"] == pytest.approx(1.0, rel=0.02)
    assert res["rate"] == pytest.approx(10_000, rel=0.02)
    assert res["parameters"]["rate"] == 10_000


def test_run_stops_at_duration():
    clock = FakeClock()
    res = run(
        lambda t: None,
        rate=10_000,
        count=None,
        duration_s=0.5,
        batch=1_000,
        seed=1,
        progress=None,
        start_ms=START,
        clock=clock,
        sleep=clock.sleep,
        realism=False,
    )
    assert res["reads"] == pytest.approx(5_000, abs=1_000)


def test_real_time_rate_with_parquet_sink(tmp_path):
    sink = parquet_sink(tmp_path / "out")
    seen: list[int] = []
    t0 = time.monotonic()
    res = run(
        sink,
        rate=100_000,  # well under what the generator makes on a busy 2-core machine: this tests the bucket
        count=150_000,
        duration_s=None,
        batch=5_000,
        seed=5,
        progress=seen.append,
        start_ms=START,
        realism=False,  # the classic mix: the fastest, so the rate is the bucket's, not the generator's
    )
    elapsed = time.monotonic() - t0
    assert res["reads"] == 150_000 and res["errors"] == 0
    assert res["seconds"] == pytest.approx(1.5, rel=0.15)
    assert elapsed == pytest.approx(1.5, rel=0.15)
    assert res["rate"] == pytest.approx(100_000, rel=0.15)
    assert seen[-1] == 150_000 and len(seen) == 30
    assert ds.dataset(tmp_path / "out", format="parquet").count_rows() == 150_000


def test_parquet_files_are_partitioned_by_hour(tmp_path):
    boundary = (START // HOUR_MS + 1) * HOUR_MS
    sink = parquet_sink(tmp_path, worker=3)
    total = 0
    for t in reads(9, 3, 4, 100_000, 10_000, boundary - 20_000):  # ~31 s of event time: spans the hour
        sink(t)
        total += t.num_rows
    assert sink.close()["errors"] == 0
    files = sorted(tmp_path.rglob("*.parquet"))
    hours = {f.parent.name for f in files}
    assert {"hour=2026-09-21T14", "hour=2026-09-21T15"} <= hours
    assert all(f.name.startswith("part-3-") for f in files)
    rows = 0
    for f in files:
        t = pq.read_table(f)
        assert t.schema.equals(READ_SCHEMA)
        h = t["captured_at"].cast(pa.int64()).to_numpy() // HOUR_MS
        assert len(np.unique(h)) == 1
        name = f.parent.name.removeprefix("hour=")
        assert np.datetime_as_string(np.datetime64(int(h[0]) * HOUR_MS, "ms"), unit="h") == name
        rows += t.num_rows
    assert rows == total == 100_000


def test_real_time_rate_with_the_camera_map(tmp_path):
    got: list[int] = []
    t0 = time.monotonic()
    res = run(got.append, rate=40_000, count=60_000, duration_s=None, batch=5_000, seed=5, start_ms=START,
              progress=None, vehicles=100_000)  # fmt: skip
    assert res["reads"] == 60_000 and res["parameters"]["realism"] is True
    assert res["seconds"] == pytest.approx(1.5, rel=0.2)
    assert time.monotonic() - t0 < 30  # the map and warm-up take seconds, not more
    # Event time advanced about as fast as the wall clock did (the event-time rate is the sending rate).
    event_s = (res["event_time"]["last_ms"] - res["event_time"]["first_ms"]) / 1000
    assert event_s == pytest.approx(1.5, rel=0.2)


# -- the camera map and routes ---------------------------------------------------------------------------------

MAP = dict(network=True, vehicles=3_000, cameras=240, sites=60, area_km=8.0, bad_rate=0.0, passages_per_second=4.0)


def _knn_adjacency(xy: np.ndarray, k: int) -> np.ndarray:
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    adj = np.zeros(d.shape, bool)
    for a in range(len(xy)):
        adj[a, np.argsort(d[a])[1 : k + 1]] = True
    return adj | adj.T


def _passages(s: Synth, n_reads: int) -> dict[str, np.ndarray]:
    """One row per passage (frames dropped), from the reads and their ground truth."""
    tables, labels = [], []
    for _ in range(n_reads // 10_000):
        t, lab = s.labelled(10_000)
        tables.append(t)
        labels.append(lab)
    t = pa.concat_tables(tables)
    lab = {k: np.concatenate([x[k] for x in labels]) for k in labels[0]}
    cam = np.array([int(c[4:]) for c in t["camera_id"].to_pylist()])
    first = np.ones(len(cam), bool)
    first[1:] = (lab["trip"][1:] != lab["trip"][:-1]) | (lab["hop"][1:] != lab["hop"][:-1])
    out = {k: v[first] for k, v in lab.items()}
    out["camera"] = cam[first]
    order = np.lexsort((out["hop"], out["trip"]))
    return {k: v[order] for k, v in out.items()}


def test_routes_go_between_neighbouring_sites_at_road_speed():
    s = Synth(SynthConfig(seed=5, **MAP))
    p = _passages(s, 60_000)
    xy = s.network.xy_km
    adj = _knn_adjacency(xy, SynthConfig.neighbours)  # computed here from the coordinates, not taken from the code
    sites = len(xy)
    assert (p["camera"] % sites == p["site"]).all()  # camera i is at site i % sites
    same = p["trip"][1:] == p["trip"][:-1]
    a, b = p["site"][:-1][same], p["site"][1:][same]
    assert same.sum() > 10_000
    assert adj[a, b].all()  # every step goes to a neighbouring site
    assert (p["hop"][1:][same] == p["hop"][:-1][same] + 1).all()
    km = np.hypot(*(xy[a] - xy[b]).T)
    hours = (p["passage"][1:][same] - p["passage"][:-1][same]) / 3_600_000
    speed = km / hours
    assert speed.min() > 22 and speed.max() < 78  # 25..70 km/h, +-10 % per hop
    # A vehicle is on one trip at a time: its next trip starts after its last one ended.
    assert s.overlaps == 0
    trip_id, first = np.unique(p["trip"], return_index=True)
    last = np.r_[first[1:] - 1, len(p["trip"]) - 1]
    veh, t0, t1 = p["vehicle"][first], p["passage"][first], p["passage"][last]
    order = np.lexsort((t0, veh))
    veh, t0, t1 = veh[order], t0[order], t1[order]
    again = veh[1:] == veh[:-1]
    assert again.sum() > 100
    assert (t0[1:][again] > t1[:-1][again]).all()


def test_commuters_repeat_their_routes():
    s = Synth(SynthConfig(seed=6, **MAP))
    p = _passages(s, 80_000)
    ids, first = np.unique(p["trip"], return_index=True)
    bounds = np.r_[first, len(p["trip"])]
    end = p["passage"].max() - 3_600_000  # trips still under way at the end are left out
    routes: dict[tuple[int, int, int], list[tuple[int, ...]]] = {}
    for i in range(len(ids)):
        lo, hi = bounds[i], bounds[i + 1]
        v, a, b = int(p["vehicle"][lo]), int(p["site"][lo]), int(p["site"][hi - 1])
        if {a, b} == {int(s.home[v]), int(s.work[v])} and a != b and p["passage"][lo] < end:  # a commute
            routes.setdefault((v, a, b), []).append(tuple(p["camera"][lo:hi].tolist()))
    again = [r for r in routes.values() if len(r) >= 2]
    assert len(again) >= 20  # commuters drive between home and work again and again
    # ... and each time along the same route, past the same cameras.
    assert all(len(set(r)) == 1 for r in again)


def test_workers_share_one_map_but_not_a_fleet():
    made: list[Synth] = []
    next(reads(8, 0, 2, 10, 10, START, synth_out=made, vehicles=50_000))
    next(reads(8, 1, 2, 10, 10, START, synth_out=made, vehicles=50_000))
    a, b = made
    assert np.array_equal(a.network.xy_km, b.network.xy_km)
    assert not np.array_equal(a.plate_sym[:100], b.plate_sym[:100])


# -- time of day -----------------------------------------------------------------------------------------------

MIDNIGHT = (START // 86_400_000 + 1) * 86_400_000  # UTC midnight; the curve below runs on UTC (offset 0)


def _hourly_counts(times_ms: np.ndarray) -> np.ndarray:
    hour = ((times_ms - MIDNIGHT) // HOUR_MS) % 24
    return np.bincount(hour.astype(np.int64), minlength=24)


@pytest.mark.parametrize("network", [False, True])
def test_event_time_rate_follows_the_daily_curve(network):
    pps = 1.0
    days = 2 if not network else 1
    cfg = SynthConfig(seed=2, daily_curve=True, utc_offset_h=0.0, start_ms=MIDNIGHT, passages_per_second=pps,
                      vehicles=5_000, bad_rate=0.0, network=network, cameras=120, sites=40, area_km=6.0)  # fmt: skip
    s = Synth(cfg)
    times = []
    while s.t_ms < MIDNIGHT + days * 86_400_000:
        _, lab = s.labelled(20_000)
        times.append(np.unique(lab["passage"]))
    t = np.concatenate(times)
    t = t[t < MIDNIGHT + days * 86_400_000]
    per_hour = _hourly_counts(t) / (days * 3600) / pps  # passages/s relative to the mean rate
    expected = np.interp(np.arange(24) + 0.5, np.arange(25), [*HOURLY_TRAFFIC, HOURLY_TRAFFIC[0]])
    expected /= np.mean(HOURLY_TRAFFIC)  # the hourly points' mean is the linear curve's mean over a day
    assert len(t) / (days * 86_400) == pytest.approx(pps, rel=0.1)  # the mean over a day is kept
    assert per_hour[3] < 0.2 and per_hour[8] > 1.5 and per_hour[17] > 1.5
    assert np.corrcoef(per_hour, expected)[0, 1] > 0.97
    assert np.abs(per_hour - expected).max() < 0.35


def test_daily_traffic_paces_the_sending_rate_with_the_curve():
    def seconds_for(local_hour: int) -> tuple[float, float]:
        clock = FakeClock()
        res = run(lambda t: None, rate=10_000, count=4_000, duration_s=None, batch=500, seed=1,
                  start_ms=MIDNIGHT + local_hour * HOUR_MS, clock=clock, sleep=clock.sleep, realism=False,
                  traffic="daily", utc_offset_h=0.0)  # fmt: skip
        event_s = (res["event_time"]["last_ms"] - res["event_time"]["first_ms"]) / 1000
        return res["seconds"], event_s

    night, night_event = seconds_for(3)
    peak, peak_event = seconds_for(8)
    mean = np.mean(HOURLY_TRAFFIC)
    assert night == pytest.approx(4_000 / (10_000 * 0.08 / mean), rel=0.15)
    assert peak == pytest.approx(4_000 / (10_000 * 1.9 / mean), rel=0.15)
    # Event time keeps pace with the (fake) wall clock at night and at the peak.
    assert night_event == pytest.approx(night, rel=0.15)
    assert peak_event == pytest.approx(peak, rel=0.15)


# -- camera noise ----------------------------------------------------------------------------------------------


def test_camera_noise_shares_match_the_config():
    cfg = SynthConfig(seed=4, camera_noise=True, misread_rate=0.04, drop_rate=0.02, wrong_region_rate=0.03,
                      region_missing_rate=0.05, candidates=3, bad_rate=0.0, vehicles=20_000)  # fmt: skip
    s = Synth(cfg)
    table, lab = s.labelled(200_000)
    read = table["plate"].to_pylist()
    truth = symbol_strings(s.plate_sym[lab["vehicle"]]).to_pylist()
    n = len(read)
    dropped = misread = 0
    for r, t in zip(read, truth, strict=True):
        if r == t:
            continue
        if len(r) == len(t) - 1 and any(t[:i] + t[i + 1 :] == r for i in range(len(t))):
            dropped += 1
        elif len(r) == len(t) and sum(x != y for x, y in zip(r, t, strict=True)) == 1:
            misread += 1
        else:
            raise AssertionError(f"unexpected noise: {t} read as {r}")
    assert dropped / n == pytest.approx(0.02, rel=0.1)
    assert misread / n == pytest.approx(0.04, rel=0.1)
    region = np.array(table["region"].to_pylist(), dtype=object)
    true_region = s.region[lab["vehicle"]]
    present = region != None  # noqa: E711 - elementwise
    assert (~present).mean() == pytest.approx(0.05, rel=0.1)
    assert (region[present] != true_region[present]).mean() == pytest.approx(0.03, rel=0.1)
    # Top-N candidates: N of them, confidence falling with rank, the truth first when the best reading is wrong.
    cands = table["candidates"].to_pylist()
    conf = table["confidence"].to_numpy()
    assert all(len(c) == 3 for c in cands)
    assert all(c[0]["confidence"] >= c[1]["confidence"] - 4 >= c[2]["confidence"] - 8 for c in cands[:2000])
    assert all(cf > c[0]["confidence"] for cf, c in zip(conf[:2000], cands[:2000], strict=True))
    wrong = [i for i in range(n) if read[i] != truth[i]]
    assert all(cands[i][0]["plate"] == truth[i] for i in wrong)


def test_classic_output_is_unchanged_by_the_new_options():
    """The classic defaults ignore the camera-noise rates: make run, the benchmarks and many tests rely on it."""
    a = Synth(SynthConfig(seed=9, vehicles=2_000)).batch(5_000)
    b = Synth(SynthConfig(seed=9, vehicles=2_000, drop_rate=0.5, wrong_region_rate=0.5, candidates=7)).batch(5_000)
    assert _ipc(a) == _ipc(b)
    assert all(len(c) == 2 for c in a["candidates"].to_pylist())


# -- replay ----------------------------------------------------------------------------------------------------


def _table(times: list[int], first_id: int = 0) -> pa.Table:
    n = len(times)
    return pa.Table.from_pydict(
        {"read_id": [f"r{first_id + i}" for i in range(n)], "camera_id": ["c"] * n, "site_id": ["s"] * n,
         "captured_at": pa.array(times, pa.int64()).cast(pa.timestamp("ms", tz="UTC")), "plate": ["ABC123"] * n,
         "region": ["CA"] * n, "confidence": pa.array([90.0] * n, pa.float32()), "candidates": [None] * n},
        schema=READ_SCHEMA,
    )  # fmt: skip


def _replay(chunks, **kw):
    clock = FakeClock()
    sent: list[tuple[float, list[str], list[int]]] = []

    def sink(t: pa.Table) -> None:
        ids = t["read_id" if "read_id" in t.column_names else "raw"].to_pylist()
        sent.append((clock.t - 100.0, ids, t["captured_at"].cast(pa.int64()).to_pylist()))

    res = replay(chunks, sink, clock=clock, sleep=clock.sleep, wall_ms=lambda: 5_000_000.0, **kw)
    return res, sent


def test_replay_paces_by_captured_at():
    t0 = START
    times = [t0, t0 + 1000, t0 + 1000, t0 + 3000, t0 + 2500, t0 + 3000 + 36_000_000, t0 + 3000 + 36_001_000]
    res, sent = _replay([_table(times[:4]), _table(times[4:], first_id=4)], speedup=2.0, max_gap_s=600)
    when = {rid: at for at, ids, _ in sent for rid in ids}
    # A late read (r4) goes at once, a 10-hour jump (r5) is not waited for, then pacing resumes (r6).
    assert [when[f"r{i}"] for i in range(7)] == pytest.approx([0.0, 0.5, 0.5, 1.5, 1.5, 1.5, 2.0])
    assert [rid for _, ids, _ in sent for rid in ids] == [f"r{i}" for i in range(7)]
    assert res["reads"] == 7 and res["gaps_not_waited"] == 1
    assert res["seconds"] == pytest.approx(2.0)
    assert res["max_behind_seconds"] == pytest.approx(0.0)


def test_replay_asap_and_retime():
    times = [START, START + 10_000, START + 20_000]
    res, sent = _replay([_table(times)], speedup=None, retime=True)
    assert res["seconds"] == 0.0 and [x[0] for x in sent] == [0.0]
    assert sent[0][2] == [5_000_000, 5_010_000, 5_020_000]  # shifted to start now, spacing kept
    res, sent = _replay([_table(times)], speedup=10.0, retime=True)
    assert [t for x in sent for t in x[2]] == [5_000_000, 5_001_000, 5_002_000]  # the moment each is due
    assert res["seconds"] == pytest.approx(2.0)


def test_retime_keeps_a_bad_camera_clock_bad():
    day = 86_400_000
    times = [START, START + 1_000, START + day, START + 2_000]  # the third camera's clock is a day ahead
    _, sent = _replay([_table(times)], speedup=None, retime=True)
    got = [t for x in sent for t in x[2]]
    assert got[1] - got[0] == 1_000 and got[3] - got[0] == 2_000
    assert got[2] - got[0] == day  # still a day ahead of its batch: a worker dead-letters it as time_in_future


def test_parquet_chunks_merge_files_by_time(tmp_path):
    rng = np.random.default_rng(1)
    a = np.sort(rng.integers(START, START + 100_000, 3_000))
    b = np.sort(rng.integers(START + 50_000, START + 150_000, 2_000))
    pq.write_table(_table(a.tolist()), tmp_path / "a.parquet")
    pq.write_table(_table(b.tolist()), tmp_path / "b.parquet")
    kind, groups = replay_inputs([tmp_path])
    assert kind == "parquet" and [[f.name for f in g] for g in groups] == [["a.parquet", "b.parquet"]]
    out = pa.concat_tables(parquet_chunks(groups[0], 500))
    got = out["captured_at"].cast(pa.int64()).to_numpy()
    assert np.array_equal(got, np.sort(np.concatenate([a, b])))


def test_replay_inputs_are_checked(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"")
    (tmp_path / "y.jsonl").write_text("{}\n")
    with pytest.raises(ReplayError, match="not both"):
        replay_inputs([tmp_path])
    with pytest.raises(ReplayError, match="does not exist"):
        replay_inputs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReplayError, match="no .parquet"):
        replay_inputs([tmp_path / "empty"])


def test_json_lines_keep_their_bytes_and_get_their_time(tmp_path):
    group = {"data_type": "alpr_group", "epoch_start": START, "epoch_end": START + 900, "camera_id": 1234,
             "best_plate_number": "7ABC123"}  # fmt: skip
    lines = [
        json.dumps(group),
        "{not json",
        json.dumps({**group, "epoch_start": START + 5_000, "epoch_end": START + 5_400, "camera_id": "cam-9"}),
        json.dumps({"data_type": "heartbeat", "timestamp": START + 6_000, "agent_uid": "a"}),
    ]
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join(lines) + "\n\n")
    (chunk,) = list(json_chunks(path))
    assert chunk.schema.equals(RAW_SCHEMA)
    assert [r.decode() for r in chunk["raw"].to_pylist()] == lines  # byte for byte, the bad line too
    assert chunk["captured_at"].to_pylist() == [START, START, START + 5_000, START + 6_000]
    assert chunk["camera_id"].to_pylist() == ["1234", None, "cam-9", None]
    res, _ = _replay([chunk], speedup=1.0)
    assert res["seconds"] == pytest.approx(6.0)
    sent: list[pa.Table] = []
    replay([chunk], sent.append, speedup=None, retime=True, wall_ms=lambda: 9_000_000.0)
    docs = [r for r in pa.concat_tables(sent)["raw"].to_pylist()]
    first = json.loads(docs[0])
    assert (first["epoch_start"], first["epoch_end"]) == (9_000_000, 9_000_900)
    assert docs[1] == b"{not json"
    assert json.loads(docs[3])["timestamp"] == 9_006_000
