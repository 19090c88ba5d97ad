"""Disclosure control: small counts hidden, a complement wherever a total would give one away, rates withheld."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.disclosure import DisclosureRules, Mark, grid_lines, rate, suppress
from streams.core.report_table import Column, Table, publish

RULES = DisclosureRules()


def test_small_counts_are_hidden_zero_is_shown() -> None:
    marks = suppress([0, 1, 10, 11, 500], [], RULES)
    assert marks == [Mark.SHOWN, Mark.PRIMARY, Mark.PRIMARY, Mark.SHOWN, Mark.SHOWN]
    assert RULES.primary_text == "< 11"


def test_a_total_gets_a_complement_the_smallest_shown_cell() -> None:
    # 3 is hidden; with 40 + 25 + 3 = 68 published, 25 (the smallest other non-zero) is hidden too.
    values = [40, 25, 3, 0, 68]
    marks = suppress(values, [[0, 1, 2, 3, 4]], RULES)
    assert marks == [Mark.SHOWN, Mark.COMPLEMENTARY, Mark.PRIMARY, Mark.SHOWN, Mark.SHOWN]


def test_only_the_total_left_is_hidden_itself() -> None:
    marks = suppress([4, 0, 4], [[0, 1, 2]], RULES)
    assert marks[2] is not Mark.SHOWN


def test_rates_with_small_or_hidden_numerators_are_not_shown() -> None:
    assert rate(15, 1000, 1000, RULES) is None
    assert rate(16, 1000, 1000, RULES) == 16.0
    assert rate(50, 1000, 1000, RULES, hidden=True) is None


def test_published_table_marks_and_total_row() -> None:
    table = Table(
        "t",
        "c",
        (Column("k", "K", "label"), Column("a", "A"), Column("b", "B"), Column("r", "R", "rate", "a", "b", 100)),
        [{"k": "x", "a": 5, "b": 100}, {"k": "y", "a": 30, "b": 200}],
        total_row=True,
    )
    shown = publish(table, RULES)
    assert shown.rows[0] == ("x", "< 11", 100, "n/a")
    assert shown.rows[1] == ("y", "x", 200, "n/a")  # the complement of 5 in column a; its rate goes with it
    assert shown.rows[2] == ("Total", 35, 300, 11.67)


def _cells(rows: int, cols: int):  # noqa: ANN202
    return st.lists(st.integers(0, 60), min_size=rows * cols, max_size=rows * cols)


@st.composite
def tables(draw):  # noqa: ANN001, ANN201
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    row_totals, col_totals = draw(st.booleans()), draw(st.booleans())
    cells = draw(_cells(rows, cols))
    width = cols + (1 if row_totals else 0)
    grid = [cells[r * cols : (r + 1) * cols] for r in range(rows)]
    if row_totals:
        grid = [row + [sum(row)] for row in grid]
    if col_totals:
        grid.append([sum(grid[r][c] for r in range(rows)) for c in range(width)])
    return grid, row_totals, col_totals


@settings(max_examples=400, deadline=None)
@given(tables(), st.integers(0, 15))
def test_no_hidden_cell_is_alone_in_a_published_line(table, threshold) -> None:  # noqa: ANN001
    """Every hidden cell shares each published row and column with another hidden cell, so subtracting the cells
    that are shown from the total never gives it; primary cells are exactly the counts 1..threshold."""
    grid, row_totals, col_totals = table
    rules = DisclosureRules(threshold)
    height, width = len(grid), len(grid[0])
    flat = [v for row in grid for v in row]
    rows = height - (1 if col_totals else 0)
    cols = width - (1 if row_totals else 0)
    lines = grid_lines(rows, cols, row_totals, col_totals)
    marks = suppress(flat, lines, rules)
    for i, (v, m) in enumerate(zip(flat, marks, strict=True)):
        assert (m is Mark.PRIMARY) == (1 <= v <= threshold)
        if m is Mark.SHOWN:
            continue
        for line in lines:
            if i in line:
                others = [j for j in line if j != i and marks[j] is not Mark.SHOWN]
                assert others, f"cell {i} ({v}) is the only hidden cell of line {line}"
