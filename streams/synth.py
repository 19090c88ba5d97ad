"""Synthetic cameras: reads with a realistic mix, generated vectorised with numpy from a fixed seed.

A fleet of vehicles with heavy-tailed popularity (commuters seen again and again) passes cameras; each passage
sends one or more frames (the duplicates de-duplication removes); a small share of vehicles is on the hot list;
OCR noise swaps confusable characters, and camera agents send top-N candidates like real ones do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from streams.core.hotlist import ENTRY_SCHEMA
from streams.core.normalise import ALPHABET
from streams.schema import CANDIDATE_TYPE, READ_SCHEMA

_ASCII = np.frombuffer(b"\0" + ALPHABET.encode(), np.uint8)  # symbol -> byte
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
REGIONS = np.array(["CA", "CA", "CA", "CA", "NV", "AZ", "OR", "MT", "CO"])
# Confusions the synthetic OCR makes (symbol of the true char -> symbol it is misread as).
_MISREAD = {a: b for a, b in ("O0", "0O", "27", "72", "8B", "B8", "5S", "S5", "1I", "I1", "HM", "MH", "Z2")}


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
    passages_per_second: float = 2_000.0  # event-time rate of the camera network


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
        self.region = REGIONS[rng.integers(0, len(REGIONS), n)]
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
        cfg, rng = self.cfg, self.rng
        passages = max(1, int(size / cfg.mean_frames))
        veh = np.searchsorted(self.popularity, rng.random(passages))
        veh = np.minimum(veh, cfg.vehicles - 1)
        is_hot = rng.random(passages) < cfg.hot_traffic
        veh[is_hot] = self.hot[rng.integers(0, len(self.hot), int(is_hot.sum()))]
        cam = rng.integers(0, cfg.cameras, passages)
        gaps = rng.exponential(1000.0 / cfg.passages_per_second, passages)
        start = self.t_ms + np.cumsum(gaps)
        self.t_ms = float(start[-1])
        frames = 1 + rng.geometric(1.0 / cfg.mean_frames, passages) - 1
        frames = np.minimum(frames, 8)
        rows = np.repeat(np.arange(passages), frames)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(frames) - frames, frames)
        t = (start[rows] + within * 150).astype(np.int64)

        sym = self.plate_sym[veh[rows]].copy()
        truth = sym.copy()
        mis = np.flatnonzero(rng.random(len(rows)) < cfg.misread_rate)
        if len(mis):
            pos = rng.integers(0, 7, len(mis))
            for a, b in _MISREAD.items():
                sa, sb = ALPHABET.index(a) + 1, ALPHABET.index(b) + 1
                sel = sym[mis, pos] == sa
                sym[mis[sel], pos[sel]] = sb
        region = self.region[veh[rows]].astype(object)
        region[rng.random(len(rows)) < cfg.region_missing_rate] = None
        conf = np.clip(rng.normal(90, 6, len(rows)), 40, 99.9).astype(np.float32)
        conf[mis] -= 15
        n = len(rows)
        bad = np.flatnonzero(rng.random(n) < cfg.bad_rate)
        sym[bad[: len(bad) // 2]] = 0  # empty plate -> dead letter missing_plate
        t[bad[len(bad) // 2 :]] += 5 * 365 * 86_400_000  # far future -> dead letter time_in_future
        ids = _hex_ids(cfg.seed, np.arange(self.seq, self.seq + n))
        self.seq += n
        # Candidates: the true reading first when the best one is a misread, then one more alternative.
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
        cands = pa.ListArray.from_arrays(
            pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), structs, type=CANDIDATE_TYPE
        )
        cam_idx = pa.array(cam[rows])
        return pa.Table.from_arrays(
            [
                ids,
                self.cameras.take(cam_idx),
                self.sites.take(cam_idx),
                pa.array(t, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
                _strings(sym),
                pa.array(region.tolist(), pa.string()),
                pa.array(conf),
                cands,
            ],
            schema=READ_SCHEMA,
        )

    def batches(self, total: int, size: int) -> Iterator[pa.Table]:
        made = 0
        while made < total:
            b = self.batch(min(size, total - made))
            made += b.num_rows
            yield b
