"""The synthetic city's roads: camera sites on a map joined to their nearest neighbours, the routes between them,
and the trips in progress (columns a vehicle's passages are drawn from)."""

from __future__ import annotations

import math

import numpy as np


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


class Trips:
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
