"""The test's own statement of the report's disclosure rules (docs/transparency.md), written from the document and
not from streams.core.disclosure or streams.core.report_table: raw expected rows in, the cells a reader must see
out, with which cells are hidden and why.

- a count from 1 to the threshold is primary (``< 11``);
- lines: the stated ones, then every count column with the total row, then every row's stated sums; wherever a
  line has exactly one hidden cell, its smallest non-zero shown cell (the first in reading order among equals) is
  hidden too (``x``); the lines are visited in that order, again and again, until none changes;
- a rate is shown (rounded to 2 places) only when its numerator is at least the minimum, neither part is hidden and
  the denominator is positive; a rate of a fact only needs a positive denominator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

THRESHOLD, MIN_RATE_NUMERATOR = 10, 16
PRIMARY, COMPLEMENTARY, NO_RATE = f"< {THRESHOLD + 1}", "x", "n/a"


@dataclass(frozen=True)
class Col:
    key: str
    kind: str = "count"  # label, count, fact, rate
    over: tuple[str, str, float] | None = None  # a rate's (numerator, denominator, per)
    additive: bool = True  # a fact or count the total row sums (counts that overlap, e.g. searches per area, are not)


@dataclass
class Expected:
    rows: list[dict[str, Any]]  # shown values by column key
    hidden: dict[tuple[int, str], str]  # (row, key) -> primary | complementary


def expect(
    cols: list[Col],
    rows: list[dict[str, Any]],
    total_row: bool = False,
    row_sums: tuple[tuple[str, tuple[str, ...]], ...] = (),
    lines: list[list[tuple[int, str]]] | None = None,
) -> Expected:
    rows = [dict(r) for r in rows]
    if total_row:
        total: dict[str, Any] = {c.key: "" for c in cols}
        total[cols[0].key] = "Total"
        for c in cols:
            if c.kind in ("count", "fact") and c.additive:
                total[c.key] = sum(int(r.get(c.key) or 0) for r in rows)
        rows.append(total)
    counts = [c.key for c in cols if c.kind == "count"]
    summed = [c.key for c in cols if c.kind == "count" and c.additive]
    no_total = {(len(rows) - 1, k) for k in counts if k not in summed} if total_row else set()
    cells = [(r, k) for r in range(len(rows)) for k in counts if (r, k) not in no_total]
    order = {cell: n for n, cell in enumerate(cells)}
    value = {cell: int(rows[cell[0]].get(cell[1]) or 0) for cell in order}
    all_lines = list(lines or [])
    if total_row:
        all_lines += [[(r, k) for r in range(len(rows))] for k in summed]
    for whole, parts in row_sums:
        all_lines += [[(r, k) for k in (whole, *parts)] for r in range(len(rows))]
    hidden = {cell: "primary" for cell, v in value.items() if 1 <= v <= THRESHOLD}
    changed = True
    while changed:
        changed = False
        for line in all_lines:
            if sum(cell in hidden for cell in line) != 1:
                continue
            shown = [cell for cell in line if cell not in hidden and value[cell] > 0]
            if shown:
                hidden[min(shown, key=lambda cell: (value[cell], order[cell]))] = "complementary"
                changed = True
    facts = {c.key for c in cols if c.kind == "fact"}
    out = []
    for r, row in enumerate(rows):
        shown: dict[str, Any] = {}
        for c in cols:
            v = row.get(c.key)
            if c.kind == "count" and (r, c.key) in no_total:
                shown[c.key] = None
            elif c.kind == "count":
                mark = hidden.get((r, c.key))
                shown[c.key] = PRIMARY if mark == "primary" else COMPLEMENTARY if mark else int(v or 0)
            elif c.kind == "rate":
                assert c.over is not None
                num_key, den_key, per = c.over
                num, den = row.get(num_key), row.get(den_key)
                parts_hidden = (r, num_key) in hidden or (r, den_key) in hidden
                small = num_key not in facts and (num in (None, "") or int(num) < MIN_RATE_NUMERATOR)
                if num in (None, "") or den in (None, "") or parts_hidden or small or float(den) <= 0:
                    shown[c.key] = NO_RATE
                else:
                    shown[c.key] = round(int(num) / float(den) * per, 2)
            elif c.kind == "fact":
                shown[c.key] = None if v in (None, "") else v
            else:
                shown[c.key] = "" if v is None else str(v)
        out.append(shown)
    return Expected(out, hidden)


def published(table: dict[str, Any]) -> Expected:
    """A report.json table in the same shape: rows by column key, and its suppressed cells."""
    keys = [c["key"] for c in table["columns"]]
    rows = [dict(zip(keys, r, strict=True)) for r in table["rows"]]
    return Expected(rows, {(s["row"], s["column"]): s["rule"] for s in table["suppressed"]})
