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
import pyarrow.compute as pc

from streams.core.confusables import DEFAULT_GROUPS
from streams.core.normalise import ALPHABET
from streams.model.hotlist import ENTRY_SCHEMA
from streams.model.read import CANDIDATE_TYPE, READ_SCHEMA

_ASCII = np.frombuffer(b"\0" + ALPHABET.encode(), np.uint8)  # symbol -> byte
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
REGIONS = np.array(["CA", "CA", "CA", "CA", "NV", "AZ", "OR", "MT", "CO"])
STATES = np.array(["CA", "NV", "AZ", "OR", "MT", "CO"])  # the distinct regions, for wrong-state misreads
# Confusions the synthetic OCR makes (symbol of the true char -> symbol it is misread as).
_SORTED_STATES = np.sort(STATES)
_MISREAD = {a: b for a, b in ("O0", "0O", "27", "72", "8B", "B8", "5S", "S5", "1I", "I1", "HM", "MH", "Z2")}
DAY_MS = 86_400_000
# Relative traffic by local hour (0..23), an urban weekday: night trough, morning and evening peaks.
HOURLY_TRAFFIC = (
    0.25, 0.15, 0.10, 0.08, 0.12, 0.35, 0.90, 1.70, 1.90, 1.40, 1.10, 1.15,
    1.25, 1.20, 1.20, 1.45, 1.80, 1.95, 1.50, 1.00, 0.75, 0.60, 0.45, 0.35,
)  # fmt: skip
_CURVE_BIN_MS = 300_000  # the curve is linear between hourly points, tabulated in 5-minute steps


def _look_alikes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per symbol: up to 3 look-alike symbols, how many, and whether the matcher's confusable groups hold it.

    The groups come from the matcher (``streams.core.confusables``), so most misreads of a hot plate are ones it
    can catch; characters outside the groups get a plausible look-alike the matcher does not know.
    """
    alt = np.zeros((37, 3), np.uint8)
    n = np.zeros(37, np.uint8)
    grouped = np.zeros(37, bool)
    sym = {c: ALPHABET.index(c) + 1 for c in ALPHABET}
    extra = {"3": "8", "9": "8", "C": "G", "E": "F", "F": "E", "J": "I", "K": "X", "P": "R", "R": "P", "T": "7",
             "W": "V", "X": "K", "Y": "V"}  # fmt: skip
    for c, s in sym.items():
        group = next((g for g in DEFAULT_GROUPS if c in g), None)
        others = [o for o in group if o != c][:3] if group else [extra[c]]
        grouped[s] = group is not None
        n[s] = len(others)
        alt[s, : len(others)] = [sym[o] for o in others]
    return alt, n, grouped


_ALT, _N_ALT, _GROUPED = _look_alikes()


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


def _strings(sym: np.ndarray) -> pa.Array:
    """Symbol rows (0-padded) -> Arrow strings, built from buffers, no per-row Python."""
    lengths = (sym > 0).sum(axis=1).astype(np.int32)
    offsets = np.zeros(len(sym) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = _ASCII[sym[sym > 0]]
    return pa.Array.from_buffers(pa.string(), len(sym), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])


def _hex_ids(prefix: int, seq: np.ndarray) -> pa.Array:
    """16-hex-digit ids from a 64-bit value per row (stable for a seed)."""
    v = (np.uint64(prefix) << np.uint64(40)) ^ seq.astype(np.uint64)
    nib = (v[:, None] >> (np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(4))[None, :]) & np.uint64(15)
    data = _HEX[nib.astype(np.uint8)].reshape(-1)
    offsets = np.arange(0, 16 * len(v) + 1, 16, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), len(v), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])


class DailyCurve:
    """Traffic by time of day as a time warp: a Poisson process with a constant rate in *flat* time, mapped back
    to event time, has the curve's rate. Flat time advances one day per day, so the day's mean rate is kept."""

    def __init__(self, utc_offset_h: float, hourly: tuple[float, ...] = HOURLY_TRAFFIC):
        self.offset_ms = int(round(utc_offset_h * 3_600_000))
        self.edges = np.arange(0, DAY_MS + 1, _CURVE_BIN_MS, dtype=np.float64)
        centres = (self.edges[:-1] + _CURVE_BIN_MS / 2) / 3_600_000
        hours = np.arange(25, dtype=np.float64)
        rate = np.interp(centres, hours, np.append(hourly, hourly[0]))
        self.rate = rate / rate.mean()  # mean 1 over a day
        self.cum = np.concatenate([[0.0], np.cumsum(self.rate * _CURVE_BIN_MS)])

    def factor(self, t_ms: np.ndarray | float) -> np.ndarray:
        """The rate at event time ``t_ms`` relative to the day's mean."""
        local = np.asarray(t_ms, np.float64) + self.offset_ms
        frac = local - np.floor(local / DAY_MS) * DAY_MS
        return self.rate[np.minimum((frac // _CURVE_BIN_MS).astype(np.int64), len(self.rate) - 1)]

    def to_flat(self, t_ms: np.ndarray | float) -> np.ndarray:
        local = np.asarray(t_ms, np.float64) + self.offset_ms
        day = np.floor(local / DAY_MS)
        return day * DAY_MS + np.interp(local - day * DAY_MS, self.edges, self.cum)

    def from_flat(self, u: np.ndarray | float) -> np.ndarray:
        u = np.asarray(u, np.float64)
        day = np.floor(u / DAY_MS)
        return day * DAY_MS + np.interp(u - day * DAY_MS, self.cum, self.edges) - self.offset_ms


class Network:
    """Camera sites on a square map, each joined to its nearest sites. Camera ``i`` is at site ``i % sites``.

    ``next_hop[a, b]`` is where a driver at site ``a`` heading for ``b`` goes next: the neighbour nearest to
    ``b``, if it is nearer than ``a`` (else -1: the trip ends there). ``next_hop[b, b] == b``.
    """

    def __init__(self, cameras: int, sites: int, seed: int, area_km: float, neighbours: int):
        rng = np.random.default_rng([seed, 0x6E6574])  # its own stream: the fleet's draws do not move the map
        s = max(1, min(sites, cameras))
        self.sites = s
        self.xy_km = rng.uniform(0.0, area_km, (s, 2))
        diff = self.xy_km[:, None, :] - self.xy_km[None, :, :]
        self.dist_km = np.hypot(diff[..., 0], diff[..., 1])
        k = min(neighbours, s - 1)
        adjacent = np.zeros((s, s), bool)
        if k > 0:
            near = np.argsort(self.dist_km, axis=1, kind="stable")[:, 1 : k + 1]
            adjacent[np.repeat(np.arange(s), k), near.ravel()] = True
        self.adjacent = adjacent | adjacent.T
        self.next_hop = np.full((s, s), -1, np.int32)
        cols = np.arange(s)
        for a in range(s):  # once per site, at start-up
            nb = np.flatnonzero(self.adjacent[a])
            if len(nb):
                dd = self.dist_km[nb]
                j = dd.argmin(axis=0)
                self.next_hop[a] = np.where(dd[j, cols] < self.dist_km[a], nb[j], -1)
            self.next_hop[a, a] = a
        self.cams_at = np.bincount(np.arange(cameras) % s, minlength=s).astype(np.uint64)
        # Coordinates for maps and people: the square placed at a reference point (Los Angeles).
        self.lat = 34.05 + self.xy_km[:, 1] / 111.32
        self.lon = -118.25 + self.xy_km[:, 0] / (111.32 * math.cos(math.radians(34.05)))

    def camera(self, site: np.ndarray, came_from: np.ndarray, vehicle: np.ndarray) -> np.ndarray:
        """The camera a vehicle passes at a site: fixed by where it came from (its direction) and the vehicle
        (its lane), so a commuter passes the same cameras every day."""
        key = vehicle.astype(np.uint64) * np.uint64(2_654_435_761) + came_from.astype(np.uint64) * np.uint64(40_503)
        return site.astype(np.int64) + self.sites * (key % self.cams_at[site]).astype(np.int64)

    def route_lengths(self, a: np.ndarray, b: np.ndarray, max_hops: int) -> tuple[np.ndarray, np.ndarray]:
        """Sites passed (hops) and km driven on the routes a -> b, vectorised over pairs."""
        cur = a.astype(np.int64).copy()
        hops = np.ones(len(cur), np.int64)
        km = np.zeros(len(cur))
        alive = np.ones(len(cur), bool)
        for _ in range(max_hops - 1):
            nxt = self.next_hop[cur, b]
            alive &= (cur != b) & (nxt >= 0)
            if not alive.any():
                break
            km[alive] += self.dist_km[cur[alive], nxt[alive]]
            cur[alive] = nxt[alive]
            hops += alive
        return hops, km


class _Trips:
    """Trips in progress, as columns with spare capacity (appends are amortised, finished rows are compacted)."""

    COLUMNS = {
        "veh": np.int32, "site": np.int32, "came_from": np.int32, "dest": np.int32, "hop": np.int16,
        "speed": np.float32, "t_next": np.float64, "trip": np.int64,
    }  # fmt: skip

    def __init__(self) -> None:
        self.n = 0
        self.finished = 0
        self.cols = {k: np.empty(1024, t) for k, t in self.COLUMNS.items()}

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("cols")
        if cols is None or name not in cols:
            raise AttributeError(name)
        return cols[name]

    def append(self, **new: np.ndarray) -> None:
        k = len(new["veh"])
        if self.n + k > len(self.cols["veh"]):
            cap = max(2 * len(self.cols["veh"]), self.n + k)
            for name, col in self.cols.items():
                grown = np.empty(cap, col.dtype)
                grown[: self.n] = col[: self.n]
                self.cols[name] = grown
        for name, values in new.items():
            self.cols[name][self.n : self.n + k] = values
        self.n += k

    def finish(self, idx: np.ndarray) -> None:
        self.cols["t_next"][idx] = np.inf
        self.finished += len(idx)

    def compact(self) -> None:
        if self.finished * 2 < self.n:
            return
        keep = np.flatnonzero(np.isfinite(self.cols["t_next"][: self.n]))
        for col in self.cols.values():
            col[: len(keep)] = col[keep]
        self.n, self.finished = len(keep), 0


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
        self.region_code = np.searchsorted(_SORTED_STATES, REGIONS).astype(np.uint8)[region_idx]  # -> _SORTED_STATES
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
        self.trips = _Trips()
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
                "plate": _strings(self.plate_sym[self.hot]),
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
            sym, region, conf, noisy = self._camera_noise(sym, veh[rows])
        else:
            mis = np.flatnonzero(rng.random(n) < cfg.misread_rate)
            if len(mis):
                pos = rng.integers(0, 7, len(mis))
                for a, b in _MISREAD.items():
                    sa, sb = ALPHABET.index(a) + 1, ALPHABET.index(b) + 1
                    sel = sym[mis, pos] == sa
                    sym[mis[sel], pos[sel]] = sb
            region_obj = self.region[veh[rows]].astype(object)
            region_obj[rng.random(n) < cfg.region_missing_rate] = None
            region = pa.array(region_obj.tolist(), pa.string())
            conf = np.clip(rng.normal(90, 6, n), 40, 99.9).astype(np.float32)
            conf[mis] -= 15
        bad = np.flatnonzero(rng.random(n) < cfg.bad_rate)
        sym[bad[: len(bad) // 2]] = 0  # empty plate -> dead letter missing_plate
        t[bad[len(bad) // 2 :]] += 5 * 365 * 86_400_000  # far future -> dead letter time_in_future
        ids = _hex_ids(cfg.seed, np.arange(self.seq, self.seq + n))
        self.seq += n
        if cfg.camera_noise:
            cands = self._camera_candidates(sym, truth, noisy, conf)
        else:
            cands = self._classic_candidates(sym, truth, conf)
        cam_idx = pa.array(cam[rows])
        table = pa.Table.from_arrays(
            [
                ids,
                self.cameras.take(cam_idx),
                self.sites.take(cam_idx),
                pa.array(t, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
                _strings(sym),
                region,
                pa.array(conf),
                cands,
            ],
            schema=READ_SCHEMA,
        )
        labels = {"vehicle": veh[rows], "trip": p["trip"][rows], "hop": p["hop"][rows], "site": p["site"][rows],
                  "passage": start[rows]}  # fmt: skip
        return table, labels

    @staticmethod
    def _classic_candidates(sym: np.ndarray, truth: np.ndarray, conf: np.ndarray) -> pa.Array:
        # The true reading first when the best one is a misread, then one more alternative.
        n = len(sym)
        alt = sym.copy()
        alt[:, 6] = np.where(alt[:, 6] == 1, 2, 1)
        cand_plates = np.empty((n * 2, 12), np.uint8)
        cand_plates[0::2] = np.where((sym != truth).any(axis=1)[:, None], truth, alt)
        cand_plates[1::2] = alt
        cand_conf = np.empty(n * 2, np.float32)
        cand_conf[0::2] = conf - 10
        cand_conf[1::2] = conf - 20
        structs = pa.StructArray.from_arrays(
            [_strings(cand_plates), pa.array(np.clip(cand_conf, 0, 100))], fields=list(CANDIDATE_TYPE.value_type)
        )
        offsets = pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, structs, type=CANDIDATE_TYPE)

    def _swap_look_alike(self, sym: np.ndarray) -> None:
        """In place: one character of each row becomes a look-alike. Two tries at a character the matcher's
        confusable groups know (most OCR errors are between such characters), else the second pick stays."""
        if not len(sym):
            return
        r = np.arange(len(sym))
        length = np.maximum((sym > 0).sum(axis=1), 1)
        u = self.rng.random((2, len(sym)))
        first, second = (u[0] * length).astype(np.int64), (u[1] * length).astype(np.int64)
        pos = np.where(_GROUPED[sym[r, first]], first, second)
        old = sym[r, pos]
        pick = (self.rng.random(len(sym)) * _N_ALT[old]).astype(np.int64)
        sym[r, pos] = np.where(old > 0, _ALT[old, pick], old)

    def _camera_noise(self, sym: np.ndarray, veh: np.ndarray) -> tuple[np.ndarray, pa.Array, np.ndarray, np.ndarray]:
        """Misreads (a look-alike character), dropped characters and wrong states, each at its configured rate."""
        cfg, rng = self.cfg, self.rng
        n = len(sym)
        u = rng.random(n)
        drop = np.flatnonzero(u < cfg.drop_rate)
        mis = np.flatnonzero((u >= cfg.drop_rate) & (u < cfg.drop_rate + cfg.misread_rate))
        part = sym[mis]
        self._swap_look_alike(part)
        sym[mis] = part
        if len(drop):
            length = (sym[drop] > 0).sum(axis=1)
            pos = (rng.random(len(drop)) * length).astype(np.int64)
            cols = np.arange(12)
            src = cols[None, :] + (cols[None, :] >= pos[:, None])
            padded = np.concatenate([sym[drop], np.zeros((len(drop), 1), np.uint8)], axis=1)
            sym[drop] = np.take_along_axis(padded, src, axis=1)
        code = self.region_code[veh]
        wrong = rng.random(n) < cfg.wrong_region_rate
        code = np.where(wrong, (code + rng.integers(1, len(STATES), n)) % len(STATES), code)
        missing = rng.random(n) < cfg.region_missing_rate
        region = pc.take(pa.array(_SORTED_STATES), pa.array(code, mask=missing))
        conf = np.clip(rng.normal(90, 6, n), 40, 99.9).astype(np.float32)
        conf[mis] -= 15
        conf[drop] -= 20
        noisy = np.zeros(n, bool)
        noisy[mis] = noisy[drop] = True
        return sym, region, conf, noisy

    def _camera_candidates(self, sym: np.ndarray, truth: np.ndarray, noisy: np.ndarray, conf: np.ndarray) -> pa.Array:
        """``candidates`` alternatives per read, like an agent's top-N: look-alike variants of the best reading,
        with the true plate first when the best reading is wrong; confidence falls with rank."""
        k, n = self.cfg.candidates, len(sym)
        if k < 1:
            return pa.array([[]] * n, CANDIDATE_TYPE) if n else pa.array([], CANDIDATE_TYPE)
        plates = np.repeat(sym, k, axis=0)
        self._swap_look_alike(plates)
        first = np.flatnonzero(noisy) * k
        plates[first] = truth[noisy]
        rank = np.tile(np.arange(1, k + 1, dtype=np.float32), n)
        cand_conf = np.repeat(conf, k) - 6 * rank - self.rng.uniform(0, 4, n * k).astype(np.float32)
        structs = pa.StructArray.from_arrays(
            [_strings(plates), pa.array(np.clip(cand_conf, 0, 100).astype(np.float32))],
            fields=list(CANDIDATE_TYPE.value_type),
        )
        offsets = pa.array(np.arange(0, k * n + 1, k, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, structs, type=CANDIDATE_TYPE)

    def batches(self, total: int, size: int) -> Iterator[pa.Table]:
        made = 0
        while made < total:
            b = self.batch(min(size, total - made))
            made += b.num_rows
            yield b
