"""Synthetic cameras: reads with a realistic mix, generated vectorised with numpy from a fixed seed.

A fleet of vehicles with heavy-tailed popularity (commuters seen again and again) passes cameras; each passage
sends one or more frames (the duplicates de-duplication removes); a small share of vehicles is on the hot list;
OCR noise swaps confusable characters, and camera agents send top-N candidates like real ones do.

The defaults are the classic generator (``make run``, the benchmarks and many tests rely on its exact output).
The load generator turns on more realism, each part a ``SynthConfig`` option:

- ``network``: camera sites with coordinates, joined to their nearest neighbours. Vehicles make trips: a route
  from where the vehicle is to its destination (home <-> work for commuters, who repeat their routes), one
  passage per site on the way, travel time from distance and speed. A vehicle makes one trip at a time.
- ``daily_curve``: the event-time rate follows a day's traffic (night trough, morning and evening peaks) in local
  time; ``passages_per_second`` stays the mean over a day.
- ``camera_noise``: misreads replace a character by a look-alike, some reads drop a character, some carry the
  wrong state, and ``candidates`` alternatives come with each read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from streams.loadtest.arrow_strings import hex_ids, symbol_strings
from streams.loadtest.daily_curve import DailyCurve
from streams.loadtest.ocr_noise import (
    SORTED_STATES,
    camera_candidates,
    camera_noise,
    classic_candidates,
    classic_noise,
)
from streams.loadtest.road_network import Network, Trips
from streams.model.hotlist import ENTRY_SCHEMA
from streams.model.read import READ_SCHEMA

REGIONS = np.array(["CA", "CA", "CA", "CA", "NV", "AZ", "OR", "MT", "CO"])


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 7
    vehicles: int = 200_000
    cameras: int = 300
    sites: int = 30
    hot_share: float = 0.005  # share of vehicles on the hot list
    hot_traffic: float = 0.001  # share of passages made by hot-list vehicles
    mean_frames: float = 1.6  # frames per passage (each extra frame is a duplicate)
    misread_rate: float = 0.02
    region_missing_rate: float = 0.05
    bad_rate: float = 0.0002  # reads a broken camera sends: no plate text, or a clock years ahead
    start_ms: int = 1_790_000_000_000
    passages_per_second: float = 2_000.0  # event-time rate of the camera network (the day's mean)
    # Camera network and routes (off: each passage is at a random camera, independent of the last).
    network: bool = False
    network_seed: int | None = None  # seed of the map (default: seed); workers of one run share one map
    area_km: float = 20.0  # sites are scattered over a square this wide
    neighbours: int = 5  # each site is joined to this many nearest sites (and they to it)
    commute_share: float = 0.8  # trips between home and work; the rest go to a random site
    max_hops: int = 24  # sites on one trip at most
    speed_kmh: tuple[float, float] = (25.0, 70.0)  # a trip's mean speed is drawn from this range
    park_s: float = 300.0  # mean stop between two trips of a vehicle
    # Time of day (off: a constant event-time rate).
    daily_curve: bool = False
    utc_offset_h: float = -8.0  # local time of the network, for the daily curve
    # Camera OCR noise (off: the classic misreads and two candidates).
    camera_noise: bool = False
    drop_rate: float = 0.005  # a character dropped (camera_noise only)
    wrong_region_rate: float = 0.01  # another state than the plate's (camera_noise only)
    candidates: int = 4  # alternatives per read (camera_noise only)


_PASSAGE = ("veh", "cam", "t", "trip", "hop", "site")


class Synth:
    """A deterministic camera network. ``batches`` yields READ_SCHEMA tables in event-time order."""

    def __init__(self, config: SynthConfig | None = None):
        self.cfg = cfg = config or SynthConfig()
        rng = np.random.default_rng(cfg.seed)
        n = cfg.vehicles
        # Plate formats: 1 digit + 3 letters + 3 digits (CA style) or 3 letters + 4 digits.
        letters = rng.integers(11, 37, size=(n, 4), dtype=np.uint8)
        digits = rng.integers(1, 11, size=(n, 4), dtype=np.uint8)
        sym = np.zeros((n, 12), np.uint8)
        ca = rng.random(n) < 0.6
        sym[ca, 0] = digits[ca, 0]
        sym[ca, 1:4] = letters[ca, :3]
        sym[ca, 4:7] = digits[ca, 1:4]
        sym[~ca, 0:3] = letters[~ca, :3]
        sym[~ca, 3:7] = digits[~ca, :4]
        self.plate_sym = sym
        region_idx = rng.integers(0, len(REGIONS), n)
        self.region = REGIONS[region_idx]
        # Heavy-tailed popularity: a few vehicles pass cameras every day, most rarely.
        weight = 1.0 / np.arange(1, n + 1) ** 0.8
        self.popularity = np.cumsum(weight / weight.sum())
        n_hot = max(1, int(n * cfg.hot_share))
        self.hot = rng.choice(n, n_hot, replace=False)
        self.cameras = pa.array([f"cam-{i:04d}" for i in range(cfg.cameras)])
        self.sites = pa.array([f"site-{i % cfg.sites:03d}" for i in range(cfg.cameras)])
        self.rng = rng
        self.t_ms = float(cfg.start_ms)
        self.seq = 0
        self.curve = DailyCurve(cfg.utc_offset_h) if cfg.daily_curve else None
        self.u_ms = float(self.curve.to_flat(cfg.start_ms)) if self.curve else float(cfg.start_ms)
        self.region_code = np.searchsorted(SORTED_STATES, REGIONS).astype(np.uint8)[region_idx]  # -> SORTED_STATES
        self.network: Network | None = None
        self.overlaps = 0  # trips given to a vehicle already on the road (only when the fleet is too small)
        if cfg.network:
            self._init_network()

    # -- the camera network --------------------------------------------------------------------------------

    def _init_network(self) -> None:
        cfg = self.cfg
        net_seed = cfg.seed if cfg.network_seed is None else cfg.network_seed
        self.network = net = Network(cfg.cameras, cfg.sites, net_seed, cfg.area_km, cfg.neighbours)
        fleet = np.random.default_rng([cfg.seed, 0x666C74])
        self.home = fleet.integers(0, net.sites, cfg.vehicles).astype(np.int32)
        self.work = fleet.integers(0, net.sites, cfg.vehicles).astype(np.int32)
        self.where = self.home.copy()  # where each vehicle is parked
        self.free_at = np.full(cfg.vehicles, -np.inf)  # when it may start its next trip
        # Mean sites per trip, for the trip rate that gives passages_per_second; the longest trip, for warm-up.
        sample = np.random.default_rng([net_seed, 0x686F70])
        a, b = sample.integers(0, net.sites, (2, 4096))
        v = sample.integers(0, cfg.vehicles, 4096)
        commute_hops, commute_km = net.route_lengths(self.home[v], self.work[v], cfg.max_hops)
        errand_hops, errand_km = net.route_lengths(a, b, cfg.max_hops)
        self.mean_hops = float(cfg.commute_share * commute_hops.mean() + (1 - cfg.commute_share) * errand_hops.mean())
        km = np.concatenate([commute_km, errand_km])
        # Nearly all trips are shorter than this (at the mean speed): the warm-up starts that long before start_ms.
        self.long_trip_ms = float(np.quantile(km, 0.99)) / (sum(cfg.speed_kmh) / 2) * 3_600_000
        self.trips = Trips()
        self.trip_seq = 0
        self.ready = {k: np.empty(0, np.float64 if k == "t" else np.int64) for k in _PASSAGE}
        self._warm_up()

    def _from_flat(self, u: np.ndarray) -> np.ndarray:
        return self.curve.from_flat(u) if self.curve else u

    def _new_trips(self, k: int) -> float:
        """Start ``k`` trips after the last one; returns the last start (no passage can come before it)."""
        cfg, rng, net = self.cfg, self.rng, self.network
        trips_per_ms = cfg.passages_per_second / self.mean_hops / 1000.0
        u = self.u_ms + np.cumsum(rng.exponential(1.0 / trips_per_ms, k))
        self.u_ms = float(u[-1])
        t = self._from_flat(u)
        veh = np.minimum(np.searchsorted(self.popularity, rng.random(k)), cfg.vehicles - 1)
        hot = rng.random(k) < cfg.hot_traffic
        veh[hot] = self.hot[rng.integers(0, len(self.hot), int(hot.sum()))]
        # One trip at a time per vehicle: a trip for a vehicle that is on the road (or has another trip in this
        # chunk) goes to a vehicle that is parked, drawn uniformly; only if none is left does a vehicle overlap.
        ok = np.zeros(k, bool)
        ok[np.unique(veh, return_index=True)[1]] = True
        ok &= self.free_at[veh] <= t
        bad = np.flatnonzero(~ok)
        if len(bad):
            avail = self.free_at <= t[0]
            avail[veh[ok]] = False
            for rows, pool in ((bad[hot[bad]], self.hot), (bad[~hot[bad]], None)):
                cand = np.flatnonzero(avail) if pool is None else pool[avail[pool]]
                m = min(len(rows), len(cand))
                pick = cand[rng.choice(len(cand), m, replace=False)] if m else cand[:0]
                veh[rows[:m]] = pick
                avail[pick] = False
                self.overlaps += len(rows) - m
        self.free_at[veh] = np.inf
        origin = self.where[veh]
        commute = rng.random(k) < cfg.commute_share
        home, work = self.home[veh], self.work[veh]
        dest = np.where(commute, np.where(origin == home, work, home), rng.integers(0, net.sites, k))
        self.trips.append(
            veh=veh, site=origin, came_from=dest, dest=dest, hop=np.zeros(k, np.int16),
            speed=rng.uniform(*cfg.speed_kmh, k), t_next=t, trip=self.trip_seq + np.arange(k),
        )  # fmt: skip
        self.trip_seq += k
        return float(t[-1])

    def _advance(self, horizon: float, keep_from: float = -np.inf) -> dict[str, np.ndarray]:
        """Every passage up to ``horizon`` (from ``keep_from``) of the trips in progress, in time order; trips
        move on."""
        cfg, rng, net, tr = self.cfg, self.rng, self.network, self.trips
        idx = np.flatnonzero(tr.t_next[: tr.n] <= horizon)
        out: list[tuple[np.ndarray, ...]] = []
        while len(idx):  # one step per hop: at most max_hops rounds, each vectorised over the trips due
            site, veh, t, hop = tr.site[idx], tr.veh[idx], tr.t_next[idx], tr.hop[idx]
            keep = t >= keep_from
            out.append((veh[keep], net.camera(site[keep], tr.came_from[idx][keep], veh[keep]), t[keep],
                        tr.trip[idx][keep], hop[keep], site[keep]))  # fmt: skip
            nxt = net.next_hop[site, tr.dest[idx]]
            done = (site == tr.dest[idx]) | (nxt < 0) | (hop + 1 >= cfg.max_hops)
            parked = veh[done]
            self.where[parked] = site[done]
            stop = cfg.park_s * 1000
            self.free_at[parked] = t[done] + 0.1 * stop + rng.exponential(0.9 * stop, len(parked))
            tr.finish(idx[done])
            go = ~done
            gi, here, there = idx[go], site[go], nxt[go]
            travel = net.dist_km[here, there] / tr.speed[gi] * 3_600_000 * rng.uniform(0.9, 1.1, len(gi))
            tr.came_from[gi] = here
            tr.site[gi] = there
            tr.t_next[gi] = t[go] + travel
            tr.hop[gi] += 1
            idx = gi[tr.t_next[gi] <= horizon]
        tr.compact()
        if not out:
            return {k: np.empty(0, np.float64 if k == "t" else np.int64) for k in _PASSAGE}
        cols = [np.concatenate(c) for c in zip(*out, strict=True)]
        order = np.argsort(cols[2], kind="stable")
        return {k: c[order] for k, c in zip(_PASSAGE, cols, strict=True)}

    def _warm_up(self) -> None:
        """Start with the roads as full as they will be: trips begun up to the longest trip before start_ms run
        to start_ms, and their earlier passages are dropped. Without it the first minutes would be too quiet."""
        start_u = self.u_ms
        span = self.long_trip_ms
        trips_per_ms = self.cfg.passages_per_second / self.mean_hops / 1000.0
        k = int(span * trips_per_ms)
        if k < 1:
            return
        self.u_ms = start_u - span
        last = self._new_trips(k)
        self.u_ms = start_u
        self.ready = self._advance(min(last, float(self.cfg.start_ms)), keep_from=float(self.cfg.start_ms))

    def _network_passages(self, passages: int) -> dict[str, np.ndarray]:
        have = len(self.ready["t"])
        while have < passages:
            k = max(32, math.ceil((passages - have) / self.mean_hops))
            more = self._advance(self._new_trips(k))
            self.ready = {c: np.concatenate([self.ready[c], more[c]]) for c in _PASSAGE}
            have = len(self.ready["t"])
        out = {c: v[:passages] for c, v in self.ready.items()}
        self.ready = {c: v[passages:] for c, v in self.ready.items()}
        self.t_ms = float(out["t"][-1])
        return out

    def _classic_passages(self, passages: int) -> dict[str, np.ndarray]:
        cfg, rng = self.cfg, self.rng
        veh = np.searchsorted(self.popularity, rng.random(passages))
        veh = np.minimum(veh, cfg.vehicles - 1)
        is_hot = rng.random(passages) < cfg.hot_traffic
        veh[is_hot] = self.hot[rng.integers(0, len(self.hot), int(is_hot.sum()))]
        cam = rng.integers(0, cfg.cameras, passages)
        gaps = rng.exponential(1000.0 / cfg.passages_per_second, passages)
        if self.curve is None:
            start = self.t_ms + np.cumsum(gaps)
        else:
            u = self.u_ms + np.cumsum(gaps)
            self.u_ms = float(u[-1])
            start = self.curve.from_flat(u)
        self.t_ms = float(start[-1])
        none = np.full(passages, -1, np.int64)
        return {"veh": veh, "cam": cam, "t": start, "trip": none, "hop": np.zeros(passages, np.int64),
                "site": cam % cfg.sites}  # fmt: skip

    def traffic_factor(self, t_ms: np.ndarray | float) -> np.ndarray:
        """The event-time rate at ``t_ms`` relative to ``passages_per_second`` (1 without the daily curve)."""
        if self.curve is None:
            return np.ones_like(np.asarray(t_ms, np.float64))
        return self.curve.factor(t_ms)

    # -- hot list and reads --------------------------------------------------------------------------------

    def hotlist(self, now_ms: int | None = None) -> pa.Table:
        """Hot-list entries for the hot vehicles; a few are expired or lack a legal basis (refused)."""
        now = self.cfg.start_ms if now_ms is None else now_ms
        rng = np.random.default_rng(self.cfg.seed + 1)
        k = len(self.hot)
        reasons = np.array(["stolen_vehicle", "stolen_plate", "arrest_warrant", "felony_vehicle", "missing_person"])
        reason = reasons[rng.integers(0, len(reasons), k)]
        basis_type = np.where(np.isin(reason, ["arrest_warrant", "felony_vehicle"]), "warrant", "record_number")
        basis = np.array([f"REC{i:07d}" for i in range(k)], dtype=object)
        basis[rng.random(k) < 0.02] = ""  # refused: legal_basis_required
        expires = now + rng.integers(1, 25, k) * 86_400_000
        expires[rng.random(k) < 0.02] = now - 3_600_000  # expired: never matches
        return pa.table(
            {
                "entry_id": [f"HL{i:07d}" for i in range(k)],
                "plate": symbol_strings(self.plate_sym[self.hot]),
                "region": self.region[self.hot],
                "plate_type": ["PC"] * k,
                "reason": reason,
                "legal_basis_type": basis_type,
                "legal_basis": basis.tolist(),
                "agency": ["CA0000000"] * k,
                "entered_by": ["import"] * k,
                "source": ["ncic_extract"] * k,
                "valid_from": pa.array(np.full(k, now - 86_400_000), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
                "expires_at": pa.array(expires, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            },
            schema=ENTRY_SCHEMA,
        )

    def batch(self, size: int) -> pa.Table:
        """About ``size`` reads (whole passages), continuing the event-time clock."""
        return self.labelled(size)[0]

    def labelled(self, size: int) -> tuple[pa.Table, dict[str, np.ndarray]]:
        """``batch(size)`` and, per read, the ground truth: ``vehicle`` (index into ``plate_sym``/``region``),
        ``trip`` (-1 without the network), ``hop`` (the trip's n-th site), ``site`` and ``passage`` (its time)."""
        passages = max(1, int(size / self.cfg.mean_frames))
        p = self._network_passages(passages) if self.network is not None else self._classic_passages(passages)
        return self._render(p)

    def _render(self, p: dict[str, np.ndarray]) -> tuple[pa.Table, dict[str, np.ndarray]]:
        cfg, rng = self.cfg, self.rng
        veh, cam, start = p["veh"], p["cam"], p["t"]
        passages = len(veh)
        frames = 1 + rng.geometric(1.0 / cfg.mean_frames, passages) - 1
        frames = np.minimum(frames, 8)
        rows = np.repeat(np.arange(passages), frames)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(frames) - frames, frames)
        t = (start[rows] + within * 150).astype(np.int64)
        n = len(rows)
        sym = self.plate_sym[veh[rows]].copy()
        truth = sym.copy()
        if cfg.camera_noise:
            sym, region, conf, noisy = camera_noise(rng, sym, self.region_code[veh[rows]], cfg)
        else:
            sym, region, conf = classic_noise(rng, sym, self.region[veh[rows]], cfg)
        bad = np.flatnonzero(rng.random(n) < cfg.bad_rate)
        sym[bad[: len(bad) // 2]] = 0  # empty plate -> dead letter missing_plate
        t[bad[len(bad) // 2 :]] += 5 * 365 * 86_400_000  # far future -> dead letter time_in_future
        ids = hex_ids(cfg.seed, np.arange(self.seq, self.seq + n))
        self.seq += n
        if cfg.camera_noise:
            cands = camera_candidates(rng, sym, truth, noisy, conf, cfg.candidates)
        else:
            cands = classic_candidates(sym, truth, conf)
        cam_idx = pa.array(cam[rows])
        table = pa.Table.from_arrays(
            [
                ids,
                self.cameras.take(cam_idx),
                self.sites.take(cam_idx),
                pa.array(t, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
                symbol_strings(sym),
                region,
                pa.array(conf),
                cands,
            ],
            schema=READ_SCHEMA,
        )
        labels = {"vehicle": veh[rows], "trip": p["trip"][rows], "hop": p["hop"][rows], "site": p["site"][rows],
                  "passage": start[rows]}  # fmt: skip
        return table, labels

    def batches(self, total: int, size: int) -> Iterator[pa.Table]:
        made = 0
        while made < total:
            b = self.batch(min(size, total - made))
            made += b.num_rows
            yield b
