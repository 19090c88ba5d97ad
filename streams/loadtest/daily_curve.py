"""Traffic by time of day for the synthetic cameras: an urban weekday's hourly curve, as a time warp."""

from __future__ import annotations

import numpy as np

DAY_MS = 86_400_000
# Relative traffic by local hour (0..23), an urban weekday: night trough, morning and evening peaks.
HOURLY_TRAFFIC = (
    0.25, 0.15, 0.10, 0.08, 0.12, 0.35, 0.90, 1.70, 1.90, 1.40, 1.10, 1.15,
    1.25, 1.20, 1.20, 1.45, 1.80, 1.95, 1.50, 1.00, 0.75, 0.60, 0.45, 0.35,
)  # fmt: skip
_CURVE_BIN_MS = 300_000  # the curve is linear between hourly points, tabulated in 5-minute steps


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
