"""Disclosure control for published counts (docs/transparency.md): small counts hidden, and a second cell hidden
wherever a published total would give the first one away.

- A count from 1 to ``threshold`` is *primary*-suppressed, shown as ``"< {threshold + 1}"``; 0 is shown as 0.
- A *line* is a set of cells whose sum is published as another cell of the same line (a row with its total, a
  column with its total, a funnel stage with its parts). In every line either no cell is hidden or at least two
  are: where only one is, the smallest non-zero cell still shown is hidden too (*complementary*), until no line
  changes (a fixed point), so no hidden cell is the difference of a total and cells that are shown.
- A rate is shown only when its numerator is at least ``min_rate_numerator`` and neither its numerator nor its
  denominator is hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "COMPLEMENTARY_TEXT",
    "RATE_HIDDEN_TEXT",
    "DisclosureRules",
    "Mark",
    "grid_lines",
    "rate",
    "suppress",
]

COMPLEMENTARY_TEXT = "x"  # hidden so that a hidden count cannot be worked out from a total
RATE_HIDDEN_TEXT = "n/a"  # a rate not shown: its numerator is too small, or hidden


class Mark(Enum):
    SHOWN = "shown"
    PRIMARY = "primary"
    COMPLEMENTARY = "complementary"


@dataclass(frozen=True)
class DisclosureRules:
    """The thresholds of the report's disclosure control (stated on the report's page)."""

    threshold: int = 10  # counts 1..threshold are hidden
    min_rate_numerator: int = 16  # a rate with a smaller numerator is not shown

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.min_rate_numerator < 0:
            raise ValueError("disclosure thresholds must not be negative")

    @property
    def primary_text(self) -> str:
        return f"< {self.threshold + 1}"

    def is_primary(self, value: int) -> bool:
        return 1 <= value <= self.threshold

    def statements(self) -> list[str]:
        """The rules in words, for the page."""
        return [
            f"Counts from 1 to {self.threshold} are shown as “{self.primary_text}”; zero is shown as 0.",
            "Where a published total would let a hidden count be worked out by subtraction, a second count in the "
            f"same row or column (the smallest one still shown) is hidden too, shown as “{COMPLEMENTARY_TEXT}”.",
            f"A rate whose numerator is under {self.min_rate_numerator}, or is hidden, is not shown "
            f"(“{RATE_HIDDEN_TEXT}”).",
            "Reports cover fixed calendar periods (a month, a quarter, a half-year, or whole days that do not overlap "
            "another report), so that subtracting two reports reveals nothing.",
        ]


def suppress(values: Sequence[int], lines: Sequence[Sequence[int]], rules: DisclosureRules) -> list[Mark]:
    """The mark of each of ``values`` (cell counts, flat), given the ``lines`` (lists of cell indices, each
    including the cell of its published total) whose sums are published."""
    if any(v < 0 for v in values):
        raise ValueError("counts are never negative")
    marks = [Mark.PRIMARY if rules.is_primary(v) else Mark.SHOWN for v in values]
    changed = True
    while changed:
        changed = False
        for line in lines:
            hidden = [i for i in line if marks[i] is not Mark.SHOWN]
            if len(hidden) != 1:
                continue
            candidates = [i for i in line if marks[i] is Mark.SHOWN and values[i] > 0]
            if not candidates:  # the hidden cell is 0-valued? Never: a hidden cell is positive, so is its total
                continue
            marks[min(candidates, key=lambda i: (values[i], i))] = Mark.COMPLEMENTARY
            changed = True
    return marks


def grid_lines(rows: int, cols: int, row_totals: bool, col_totals: bool) -> list[list[int]]:
    """The lines of a ``rows`` x ``cols`` grid laid out flat row by row, with a total column appended to each row
    (``row_totals``) and a total row appended below (``col_totals``), the grand total in the corner when both."""
    width = cols + (1 if row_totals else 0)
    height = rows + (1 if col_totals else 0)
    lines = []
    if row_totals:
        lines += [[r * width + c for c in range(width)] for r in range(height)]
    if col_totals:
        lines += [[r * width + c for r in range(height)] for c in range(width)]
    return lines


def rate(numerator: int, denominator: float, per: float, rules: DisclosureRules, hidden: bool = False) -> float | None:
    """``numerator / denominator * per``, or None where it must not be shown (``hidden``: a part is hidden)."""
    if hidden or numerator < rules.min_rate_numerator or denominator <= 0:
        return None
    return numerator / denominator * per
