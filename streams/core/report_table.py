"""The tables of a transparency report, and their disclosure control: one ``Table`` of raw figures becomes one
``Published`` table of the values shown, which the HTML page, the JSON file and the CSV files all render.

Columns are labels (text), counts (disclosure-controlled), facts (figures about the system rather than about
people: cameras, residents, settings; shown as they are) and rates (a numerator over a denominator column).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from streams.core.disclosure import COMPLEMENTARY_TEXT, RATE_HIDDEN_TEXT, DisclosureRules, Mark, rate, suppress

__all__ = ["Column", "Published", "Table", "cell_text", "numbers", "publish"]

Kind = Literal["label", "count", "fact", "rate"]
Value = int | float | str | None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = "count"
    numerator: str = ""  # rates: the column over
    denominator: str = ""  # ... this one
    per: float = 1.0  # ... times this (100: a percentage, 1000: per 1,000 reads)
    additive: bool = True  # a count or fact the total row sums (a share, a ratio, or counts that overlap are not)


@dataclass
class Table:
    """Raw figures: ``rows`` of values keyed by column key. ``total_row``: a last row of the counts' and facts'
    sums is published (each count column is then a line). ``row_sums``: (total key, part keys) that hold in every
    row. ``lines``: further lines, as lists of (row index, key) cells (the first row is 0)."""

    name: str
    caption: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    total_row: bool = False
    row_sums: tuple[tuple[str, tuple[str, ...]], ...] = ()
    lines: list[list[tuple[int, str]]] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Published:
    """What is shown: ``rows`` of values (int, float, text), suppressed counts as their marks' text."""

    name: str
    caption: str
    keys: tuple[str, ...]
    labels: tuple[str, ...]
    kinds: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]
    note: str = ""
    suppressed: tuple[tuple[int, str, str], ...] = ()  # (row, key, "primary" | "complementary")

    def column(self, key: str) -> list[Value]:
        i = self.keys.index(key)
        return [r[i] for r in self.rows]

    def to_json(self) -> dict[str, Any]:
        return {
            "caption": self.caption,
            "note": self.note,
            "columns": [
                {"key": k, "label": lab, "kind": kd}
                for k, lab, kd in zip(self.keys, self.labels, self.kinds, strict=True)
            ],
            "rows": [list(r) for r in self.rows],
            "suppressed": [{"row": r, "column": k, "rule": m} for r, k, m in self.suppressed],
        }


def cell_text(value: Value) -> str:
    """How a published value is written on the page and in the CSV files (JSON keeps the number)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def publish(table: Table, rules: DisclosureRules) -> Published:
    """Apply the disclosure rules to ``table``: the shown values, the total row appended when asked for."""
    cols = table.columns
    rows = [dict(r) for r in table.rows]
    if table.total_row:
        total: dict[str, Any] = {c.key: "" for c in cols}
        total[cols[0].key] = "Total"
        for c in cols:
            if c.kind in ("count", "fact") and c.additive:
                total[c.key] = sum(int(r.get(c.key) or 0) for r in rows)
        rows.append(total)
    counts = [c.key for c in cols if c.kind == "count"]
    summed = [c.key for c in cols if c.kind == "count" and c.additive]
    last = len(rows) - 1 if table.total_row else -1  # the total row has no cell for counts that overlap
    cells = [(r, k) for r in range(len(rows)) for k in counts if r != last or k in summed]
    index = {cell: i for i, cell in enumerate(cells)}
    values = [int(rows[r].get(k) or 0) for r, k in index]
    lines = [[index[(r, k)] for r, k in line] for line in table.lines]
    if table.total_row:
        lines += [[index[(r, k)] for r in range(len(rows))] for k in summed]
    for total_key, parts in table.row_sums:
        lines += [[index[(r, k)] for k in (total_key, *parts)] for r in range(len(rows))]
    marks = suppress(values, lines, rules)
    mark_of = {cell: marks[i] for cell, i in index.items()}
    facts = {c.key for c in cols if c.kind == "fact"}
    shown_rows = []
    for r, row in enumerate(rows):
        shown_rows.append(tuple(_shown(c, row, r, mark_of, rules, facts) for c in cols))
    suppressed = tuple((r, k, m.value) for (r, k), m in mark_of.items() if m is not Mark.SHOWN)
    return Published(
        table.name,
        table.caption,
        tuple(c.key for c in cols),
        tuple(c.label for c in cols),
        tuple(c.kind for c in cols),
        tuple(shown_rows),
        table.note,
        suppressed,
    )


def _shown(
    c: Column, row: dict[str, Any], r: int, marks: dict[tuple[int, str], Mark], rules: DisclosureRules, facts: set[str]
) -> Value:
    value = row.get(c.key)
    if c.kind == "count":
        if (r, c.key) not in marks:  # the total row of a count that does not add up
            return None
        mark = marks[(r, c.key)]
        if mark is Mark.PRIMARY:
            return rules.primary_text
        if mark is Mark.COMPLEMENTARY:
            return COMPLEMENTARY_TEXT
        return int(value or 0)
    if c.kind == "rate":
        hidden = any(marks.get((r, k), Mark.SHOWN) is not Mark.SHOWN for k in (c.numerator, c.denominator))
        num, den = row.get(c.numerator), row.get(c.denominator)
        if num in (None, "") or den in (None, ""):
            return RATE_HIDDEN_TEXT
        # A rate of a fact (cameras per resident) is a fact too: the numerator rule protects counts of people.
        rate_rules = DisclosureRules(rules.threshold, 0) if c.numerator in facts else rules
        shown = rate(int(num), float(den), c.per, rate_rules, hidden)
        return RATE_HIDDEN_TEXT if shown is None else round(shown, 2)
    if c.kind == "fact":
        return value if isinstance(value, int | float) else (None if value in (None, "") else str(value))
    return "" if value is None else str(value)


def numbers(values: Sequence[Value]) -> list[float | None]:
    """Published values as numbers for a chart (hidden and empty ones as None)."""
    return [float(v) if isinstance(v, int | float) else None for v in values]
