"""Plate/region normalisation and base-37 packing against a slow pure-Python reference."""

from __future__ import annotations

import string

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.confusables import DEFAULT_GROUPS, DEFAULT_LUT, canonical_lut
from streams.core.normalise import (
    ALPHABET,
    MAX_PLATE_LEN,
    decode_code,
    encode_plates,
    encode_regions,
    normalise_plates,
    normalise_regions,
    pack,
    symbol_matrix,
)

SEPARATORS = set(" -._/·") | set(string.whitespace)  # string.whitespace = ' \t\n\r\x0b\x0c'


def ref_normalise(s: str | None) -> str | None:
    """Slow reference: upper-cased character by character, separators and ASCII whitespace removed."""
    if s is None:
        return None
    return "".join(c.upper() for c in s if c not in SEPARATORS)


def ref_valid(norm: str | None) -> bool:
    return norm is not None and 1 <= len(norm) <= MAX_PLATE_LEN and all(c in ALPHABET for c in norm)


def ref_code(norm: str) -> int:
    code = 0
    for c in norm.ljust(MAX_PLATE_LEN, "\0"):
        code = code * 37 + (ALPHABET.index(c) + 1 if c != "\0" else 0)
    return code


# Letters, digits, every separator, ASCII whitespace except \v (see test_vertical_tab_is_whitespace), punctuation
# and non-ASCII characters with a one-character upper case that is not ASCII (dotless i and long s are left out
# on purpose: Arrow and Python both upper-case them to I and S, which the code accepts as plate characters).
PLATE_CHARS = st.sampled_from(
    list("abcxyzABCXYZ0123456789") + list(" -._/·\t\n\r\x0c") + list("@#+*,:ÄéüЖ中\u00a0\u200b")
)
plate_texts = st.one_of(st.none(), st.text(PLATE_CHARS, max_size=16))
valid_plates = st.text(st.sampled_from(ALPHABET), min_size=1, max_size=MAX_PLATE_LEN)


@settings(max_examples=300, deadline=None)
@given(st.lists(plate_texts, max_size=30), st.integers(0, 5))
def test_normalise_and_encode_match_reference(texts: list[str | None], cut: int) -> None:
    arr = pa.array(texts, pa.string())
    # Slices and chunked input take other paths through the Arrow buffers: they must agree too.
    arr = arr.slice(min(cut, len(arr)))
    texts = texts[min(cut, len(texts)) :]
    norm = normalise_plates(pa.chunked_array([arr.slice(0, len(arr) // 2), arr.slice(len(arr) // 2)], pa.string()))
    expected_norm = [ref_normalise(t) for t in texts]
    assert norm.to_pylist() == expected_norm
    code, valid = encode_plates(norm)
    assert valid.tolist() == [ref_valid(n) for n in expected_norm]
    assert code.tolist() == [ref_code(n) if ref_valid(n) else 0 for n in expected_norm]


@settings(max_examples=300, deadline=None)
@given(st.lists(valid_plates, min_size=1, max_size=40))
def test_codes_preserve_text_order_and_decode_back(plates: list[str]) -> None:
    code, valid = encode_plates(pa.array(plates))
    assert valid.all()
    assert [decode_code(int(c)) for c in code] == plates
    by_code = [plates[i] for i in np.argsort(code, kind="stable")]
    assert by_code == sorted(plates)
    # equal codes iff equal text
    assert len(set(code.tolist())) == len(set(plates))


def test_max_code_fits_uint64_and_is_largest() -> None:
    code, valid = encode_plates(pa.array(["Z" * 12, "Z" * 11, "0", "0" * 12, "ZZZZZZZZZZZY"]))
    assert valid.all()
    assert int(code[0]) == 37**12 - 1
    assert int(code[0]) == int(code.max())
    assert decode_code(int(code[0])) == "Z" * 12
    assert decode_code(int(code[3])) == "0" * 12  # zeros are symbol 1, not padding


@pytest.mark.parametrize(
    "text, norm, valid",
    [
        ("ab-123 c", "AB123C", True),
        ("7·abc/123_x.y", "7ABC123XY", True),
        ("  \tab12\r\n", "AB12", True),
        ("", "", False),
        (" - ", "", False),
        ("A" * 12, "A" * 12, True),
        ("A" * 13, "A" * 13, False),
        ("AB-CD-EF-GH-IJ-KL", "ABCDEFGHIJKL", True),  # length counts after separators are removed
        ("ÄB12", "ÄB12", False),
        ("AB@12", "AB@12", False),
        ("ß12", None, False),  # not ASCII whatever Arrow upper-cases it to
    ],
)
def test_normalise_examples(text: str, norm: str | None, valid: bool) -> None:
    out = normalise_plates(pa.array([text]))
    if norm is not None:
        assert out.to_pylist() == [norm]
    code, ok = encode_plates(out)
    assert ok.tolist() == [valid]
    assert (int(code[0]) != 0) == valid


def test_vertical_tab_is_whitespace() -> None:
    """\\v is whitespace (str.isspace, string.whitespace, C isspace) but RE2's \\s leaves it in: 'AB\\v12' must
    normalise like 'AB 12', not become a bad plate."""
    out = normalise_plates(pa.array(["AB\x0b12", "AB 12"]))
    assert out.to_pylist() == ["AB12", "AB12"]


def test_nulls_stay_null_and_are_invalid() -> None:
    norm = normalise_plates(pa.array([None, "ab1", None], pa.string()))
    assert norm.to_pylist() == [None, "AB1", None]
    code, valid = encode_plates(norm)
    assert valid.tolist() == [False, True, False]
    assert code[0] == 0 and code[2] == 0


def test_empty_input() -> None:
    code, valid = encode_plates(normalise_plates(pa.array([], pa.string())))
    assert len(code) == 0 and len(valid) == 0


def test_large_string_input_is_accepted() -> None:
    norm = normalise_plates(pa.array(["ab-1", "c 2"], pa.large_string()))
    assert norm.type == pa.string()
    assert norm.to_pylist() == ["AB1", "C2"]


@pytest.mark.parametrize(
    "region, norm, valid",
    [
        ("us-ca", "CA", True),
        ("CA", "CA", True),
        (" ca ", "CA", True),
        ("US-NV", "NV", True),
        (None, "", True),
        ("", "", True),
        ("usa", "USA", True),
        ("cali", "CALI", False),
        ("c@", "C@", False),
    ],
)
def test_regions(region: str | None, norm: str, valid: bool) -> None:
    out = normalise_regions(pa.array([region], pa.string()))
    assert out.to_pylist() == [norm]
    code, ok = encode_regions(out)
    assert ok.tolist() == [valid]
    if valid:
        assert decode_code(int(code[0]), 3) == norm
        assert (int(code[0]) == 0) == (norm == "")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from(ALPHABET), max_size=3), min_size=1, max_size=20))
def test_region_codes_round_trip(regions: list[str]) -> None:
    code, valid = encode_regions(pa.array(regions))
    assert valid.all()
    assert code.dtype == np.uint16
    assert [decode_code(int(c), 3) for c in code] == regions


def test_symbol_matrix_on_sliced_array_with_nulls() -> None:
    arr = pa.array(["XX", None, "AB", "C", None, "Z9"]).slice(1)
    sym, lengths = symbol_matrix(arr, 4)
    assert lengths.tolist() == [0, 2, 1, 0, 2]
    assert sym[1].tolist() == [ALPHABET.index("A") + 1, ALPHABET.index("B") + 1, 0, 0]
    assert sym[0].tolist() == [0, 0, 0, 0]
    assert pack(sym[[2]]).tolist() == [(ALPHABET.index("C") + 1) * 37**3]


def _ref_canonical(groups: tuple[str, ...]) -> dict[str, str]:
    rep = {c: c for c in ALPHABET}
    changed = True
    while changed:  # merge overlapping groups until stable; the representative is the lowest symbol
        changed = False
        for g in groups:
            members = {c for c in g if c in ALPHABET}
            lowest = min((rep[c] for c in members), key=ALPHABET.index, default=None)
            for c in ALPHABET:
                if rep[c] in {rep[m] for m in members} and rep[c] != lowest:
                    rep[c] = lowest
                    changed = True
    return rep


@pytest.mark.parametrize("groups", [DEFAULT_GROUPS, ("AB", "BC", "XY"), ("ab", "Q0"), ("1IL", "L7", "7T")])
def test_canonical_lut_matches_reference(groups: tuple[str, ...]) -> None:
    lut = canonical_lut(groups)
    ref = _ref_canonical(tuple(g.upper() for g in groups))
    assert lut[0] == 0
    for c in ALPHABET:
        assert ALPHABET[lut[ALPHABET.index(c) + 1] - 1] == ref[c], c
    if groups == DEFAULT_GROUPS:
        assert np.array_equal(lut, DEFAULT_LUT)


def test_overlapping_groups_are_merged() -> None:
    lut = canonical_lut(("AB", "BC"))
    s = {c: lut[ALPHABET.index(c) + 1] for c in "ABCD"}
    assert s["A"] == s["B"] == s["C"] != s["D"]
