"""The row-check order has one definition (``validate.CHECK_ORDER``): the compiled checks' table follows it."""

from __future__ import annotations

import itertools

import pytest

from streams.core.compiled.checks import CHECK_BITS, FIRST_FAILING
from streams.core.validate import CHECK_ORDER, REASON_CODES, first_failing_table


def test_compiled_checks_cover_exactly_the_checks_of_the_order() -> None:
    assert set(CHECK_BITS) == set(CHECK_ORDER)
    assert len(set(CHECK_BITS.values())) == len(CHECK_BITS)  # one bit per check


def test_first_failing_check_wins_in_check_order() -> None:
    assert FIRST_FAILING[0] == 0  # no failed check: a good row
    for earlier, later in itertools.combinations(CHECK_ORDER, 2):
        mask = CHECK_BITS[earlier] | CHECK_BITS[later]
        assert REASON_CODES[FIRST_FAILING[mask]] == earlier
    for reason in CHECK_ORDER:
        assert REASON_CODES[FIRST_FAILING[CHECK_BITS[reason]]] == reason


def test_a_forgotten_or_invented_check_is_refused() -> None:
    bits = {reason: k for k, reason in enumerate(CHECK_ORDER)}
    with pytest.raises(ValueError, match="CHECK_ORDER"):
        first_failing_table({r: k for r, k in bits.items() if r != CHECK_ORDER[-1]})
    with pytest.raises(ValueError, match="CHECK_ORDER"):
        first_failing_table({**bits, "made_up": len(bits)})
