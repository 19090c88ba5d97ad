"""What a camera's OCR does to a plate: misreads (look-alike characters), dropped characters, wrong or missing
states, lower confidence for each, and the top-N candidate readings an agent sends with every read.

Two mixes: the classic one (a fixed table of swaps, two candidates; ``make run``, the benchmarks and many tests rely
on its exact output) and ``camera_noise`` (look-alikes from the matcher's confusable groups, ``candidates``
alternatives). Every function draws from the generator's ``rng`` in a fixed order, so output stays deterministic.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core.confusables import DEFAULT_GROUPS
from streams.core.normalise import ALPHABET
from streams.loadtest.arrow_strings import symbol_strings
from streams.model.read import CANDIDATE_TYPE

STATES = np.array(["CA", "NV", "AZ", "OR", "MT", "CO"])  # the distinct regions, for wrong-state misreads
SORTED_STATES = np.sort(STATES)  # region codes index this
# Confusions the synthetic OCR makes (symbol of the true char -> symbol it is misread as).
_MISREAD = {a: b for a, b in ("O0", "0O", "27", "72", "8B", "B8", "5S", "S5", "1I", "I1", "HM", "MH", "Z2")}


class NoiseRates(Protocol):
    """The rates the noise is drawn at (``SynthConfig`` has them)."""

    misread_rate: float
    region_missing_rate: float
    drop_rate: float
    wrong_region_rate: float
    candidates: int


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


def classic_noise(
    rng: np.random.Generator, sym: np.ndarray, region: np.ndarray, rates: NoiseRates
) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """The classic mix, in place on ``sym``: table swaps at ``misread_rate``, missing regions; (sym, region, conf)."""
    n = len(sym)
    mis = np.flatnonzero(rng.random(n) < rates.misread_rate)
    if len(mis):
        pos = rng.integers(0, 7, len(mis))
        for a, b in _MISREAD.items():
            sa, sb = ALPHABET.index(a) + 1, ALPHABET.index(b) + 1
            sel = sym[mis, pos] == sa
            sym[mis[sel], pos[sel]] = sb
    region_obj = region.astype(object)
    region_obj[rng.random(n) < rates.region_missing_rate] = None
    conf = np.clip(rng.normal(90, 6, n), 40, 99.9).astype(np.float32)
    conf[mis] -= 15
    return sym, pa.array(region_obj.tolist(), pa.string()), conf


def classic_candidates(sym: np.ndarray, truth: np.ndarray, conf: np.ndarray) -> pa.Array:
    """Two candidates per read: the true reading first when the best one is a misread, then one more alternative."""
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
        [symbol_strings(cand_plates), pa.array(np.clip(cand_conf, 0, 100))], fields=list(CANDIDATE_TYPE.value_type)
    )
    offsets = pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, structs, type=CANDIDATE_TYPE)


def swap_look_alike(rng: np.random.Generator, sym: np.ndarray) -> None:
    """In place: one character of each row becomes a look-alike. Two tries at a character the matcher's
    confusable groups know (most OCR errors are between such characters), else the second pick stays."""
    if not len(sym):
        return
    r = np.arange(len(sym))
    length = np.maximum((sym > 0).sum(axis=1), 1)
    u = rng.random((2, len(sym)))
    first, second = (u[0] * length).astype(np.int64), (u[1] * length).astype(np.int64)
    pos = np.where(_GROUPED[sym[r, first]], first, second)
    old = sym[r, pos]
    pick = (rng.random(len(sym)) * _N_ALT[old]).astype(np.int64)
    sym[r, pos] = np.where(old > 0, _ALT[old, pick], old)


def camera_noise(
    rng: np.random.Generator, sym: np.ndarray, region_code: np.ndarray, rates: NoiseRates
) -> tuple[np.ndarray, pa.Array, np.ndarray, np.ndarray]:
    """Misreads (a look-alike character), dropped characters and wrong states, each at its configured rate.

    ``region_code`` indexes ``SORTED_STATES``. Returns (sym, region, conf, noisy) with ``sym`` changed in place.
    """
    n = len(sym)
    u = rng.random(n)
    drop = np.flatnonzero(u < rates.drop_rate)
    mis = np.flatnonzero((u >= rates.drop_rate) & (u < rates.drop_rate + rates.misread_rate))
    part = sym[mis]
    swap_look_alike(rng, part)
    sym[mis] = part
    if len(drop):
        length = (sym[drop] > 0).sum(axis=1)
        pos = (rng.random(len(drop)) * length).astype(np.int64)
        cols = np.arange(12)
        src = cols[None, :] + (cols[None, :] >= pos[:, None])
        padded = np.concatenate([sym[drop], np.zeros((len(drop), 1), np.uint8)], axis=1)
        sym[drop] = np.take_along_axis(padded, src, axis=1)
    wrong = rng.random(n) < rates.wrong_region_rate
    code = np.where(wrong, (region_code + rng.integers(1, len(STATES), n)) % len(STATES), region_code)
    missing = rng.random(n) < rates.region_missing_rate
    region = pc.take(pa.array(SORTED_STATES), pa.array(code, mask=missing))
    conf = np.clip(rng.normal(90, 6, n), 40, 99.9).astype(np.float32)
    conf[mis] -= 15
    conf[drop] -= 20
    noisy = np.zeros(n, bool)
    noisy[mis] = noisy[drop] = True
    return sym, region, conf, noisy


def camera_candidates(
    rng: np.random.Generator, sym: np.ndarray, truth: np.ndarray, noisy: np.ndarray, conf: np.ndarray, k: int
) -> pa.Array:
    """``k`` alternatives per read, like an agent's top-N: look-alike variants of the best reading, with the true
    plate first when the best reading is wrong; confidence falls with rank."""
    n = len(sym)
    if k < 1:
        return pa.array([[]] * n, CANDIDATE_TYPE) if n else pa.array([], CANDIDATE_TYPE)
    plates = np.repeat(sym, k, axis=0)
    swap_look_alike(rng, plates)
    first = np.flatnonzero(noisy) * k
    plates[first] = truth[noisy]
    rank = np.tile(np.arange(1, k + 1, dtype=np.float32), n)
    cand_conf = np.repeat(conf, k) - 6 * rank - rng.uniform(0, 4, n * k).astype(np.float32)
    structs = pa.StructArray.from_arrays(
        [symbol_strings(plates), pa.array(np.clip(cand_conf, 0, 100).astype(np.float32))],
        fields=list(CANDIDATE_TYPE.value_type),
    )
    offsets = pa.array(np.arange(0, k * n + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, structs, type=CANDIDATE_TYPE)
