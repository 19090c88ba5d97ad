"""Every figure of report.json against expectations computed here from the planted rows (tests/report/seed.py),
suppressed and complementary cells included; and HTML, JSON and CSV agreeing cell by cell."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser
from pathlib import Path

from tests.report import seed

JULY = "2026-07"


def _july(rows):  # noqa: ANN001, ANN202
    return [r for r in rows if r[0].startswith(JULY)]


def _table(out: Path, name: str) -> dict:
    return json.loads((out / "report.json").read_text())["tables"][name]


def _rows_by_first(table: dict) -> dict:
    return {r[0]: r for r in table["rows"]}


def test_funnel(out_dir: Path) -> None:
    reads = sum(r[2] for r in _july(seed.READS))
    dups = sum(r[3] for r in _july(seed.READS))
    hits, alerts = sum(r[5] for r in seed.HITS), sum(r[6] for r in seed.HITS)
    verified = sum(r[7] for r in seed.VERIFICATIONS)
    confirmed = sum(r[7] for r in seed.VERIFICATIONS if r[5] == "confirmed")
    outcomes = sum(r[5] for r in seed.OUTCOMES)
    in_time = sum(r[7] for r in seed.VERIFICATIONS if r[6] in ("lt_1m", "1m_5m"))  # within 300 s
    got = {r[0]: r[1] for r in _table(out_dir, "funnel")["rows"]}
    assert got["Reads"] == reads == 10_000
    assert got["Duplicates dropped"] == dups
    assert (got["Hits"], got["Alerts"]) == (hits, alerts)
    assert got["Hits verified by a person"] == verified
    assert got["Confirmed"] == confirmed
    assert got["Rejected (false hits)"] == verified - confirmed
    assert got["Outcome recorded"] == outcomes
    # 4 wrong_region is primary; misread 18 is its complement (the line rejected = misread + wrong_region + zeros)
    assert got["  rejected: wrong_region"] == "< 11"
    assert got["  rejected: misread"] == "x"
    assert got["  rejected: other"] == 0
    # 2 no_action is primary; arrest 12, the smallest other outcome, its complement
    assert (got["  outcome: no_action"], got["  outcome: arrest"], got["  outcome: vehicle_recovered"]) == (
        "< 11",
        "x",
        15,
    )
    assert got["No outcome recorded within 30 days"] == confirmed - outcomes  # every July hit is past its deadline
    assert got["Outcome not yet due"] == 0
    assert got["Alerts not verified within 300 s"] == alerts - in_time


def test_false_hits_by_match_kind(out_dir: Path) -> None:
    """exact: 73 hits, 71 alerts, 57 verified = 53 confirmed + 4 rejected; confusable: 25, 20, 18 = 0 + 18.

    4 is primary. Its column (rejected: 4, 18, 22) hides 18; the rows (verified = confirmed + rejected) hide 53
    and then confusable's 18 verified; that column hides exact's 57; confirmed's column (53, 0, 53) hides its
    total, and the total row (75 = 53 + 22) hides 22: a fixed point where every line has two hidden cells or none.
    """
    rows = _rows_by_first(_table(out_dir, "by_match_kind"))
    assert rows["exact"][1:] == [73, 71, "x", "x", "< 11", "n/a"]
    assert rows["confusable"][1:] == [25, 20, "x", 0, "x", "n/a"]
    assert rows["Total"][1:] == [98, 91, 75, "x", "x", "n/a"]
    by_list = _rows_by_first(_table(out_dir, "by_list"))
    assert by_list["state"][1:6] == ["< 11", "< 11", "< 11", "< 11", 0]  # 3 amber-alert hits, all confirmed
    assert by_list["ncic"][1] == "x"  # 95 hits: the complement of the 3 in the hits column (total 98)


def test_disparate_impact(out_dir: Path) -> None:
    rows = _rows_by_first(_table(out_dir, "areas"))
    north, south = rows["North"], rows["South"]
    # North: cam-n1 and cam-n2 (active: reads, and heartbeats); South: cam-s1 only (cam-s2 sent nothing)
    assert north[2:7] == [60000, 2, 66.67, 75.0, round((2 / 3) / 0.75, 2)]
    assert south[2:7] == [20000, 1, 33.33, 25.0, round((1 / 3) / 0.25, 2)]
    assert north[7:10] == [8000, 68, 22]
    assert south[7:10] == [2000, 30, 0]
    assert (north[10], south[10]) == (17, "< 11")  # searches reaching the area's cameras (allowed only)
    assert rows["Total"][10] is None  # a search reaching both areas counts in each: no total
    assert north[11] == round(68 / 8000 * 1000, 2)
    assert south[12] == "n/a"  # 0 false hits: under 16
    assert north[13] == round(17 / 8000 * 1000, 2)  # searches per 1,000 reads
    assert north[15] == round(8000 / 60000 * 10000, 2)


def test_searches_refusals_and_sharing(out_dir: Path) -> None:
    searches = {(r[0], r[1]): r[2:] for r in _table(out_dir, "searches")["rows"]}
    assert searches[("plate_history", "warrant")] == [25, 0, 0, 25]
    assert searches[("plate_history", "none")] == [0, "< 11", 0, "< 11"]
    # 17 allowed near-scene searches: the total row hides refused (6) so allowed's total, then 17, go too
    assert searches[("near_scene", "subpoena")] == ["x", 0, 0, "x"]
    assert searches[("Total", "")] == ["x", "< 11", 0, 48]
    refusals = _rows_by_first(_table(out_dir, "refusals"))
    assert refusals["Total"][2] == "< 11"
    partners = [r[0] for r in _table(out_dir, "partners")["rows"]]
    assert partners == ["county-da", "state-patrol"]
    external = {r[0]: r for r in _table(out_dir, "external_requests")["rows"]}
    assert external["county-da"][2:] == [0, 0, 0, 0]  # on the list, asked nothing: listed all the same
    assert external["state-patrol"][2:] == ["x", "< 11", 0, 19]


def test_holds_deletions_checkpoints_hotlist(out_dir: Path) -> None:
    changes = _rows_by_first(_table(out_dir, "hold_changes"))
    assert changes["placed"][1] == "< 11"  # 3 distinct changes, the replayed one counted once
    in_force = _rows_by_first(_table(out_dir, "holds_in_force"))
    assert in_force["city-pd"][1] == "< 11" and "state-patrol" not in in_force
    deletions = {(r[0], r[1]): r[2] for r in _table(out_dir, "deletions")["rows"]}
    assert deletions[("clickhouse", "non_hit_reads")] == 9000
    assert deletions[("processor", "non_hit_reads")] == 250
    seqs = [r[0] for r in _table(out_dir, "checkpoints")["rows"]]
    assert seqs == [41, 97]  # the August checkpoint is another period's
    hotlist = _rows_by_first(_table(out_dir, "hotlist"))
    assert hotlist["added"][2] == 0  # nothing planted: shown as 0, not left out
    retention = _rows_by_first(_table(out_dir, "retention"))
    assert retention["aggregates"][1] > 0


def test_no_plate_or_position_in_the_report(out_dir: Path) -> None:
    text = (out_dir / "report.json").read_text() + (out_dir / "report.html").read_text()
    assert "47.6" not in text and "-122.3" not in text  # areas by name, never by position


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current: str | None = None
        self.cell: list[str] | None = None
        self.in_body = False

    def handle_starttag(self, tag, attrs):  # noqa: ANN001, ANN201
        attrs = dict(attrs)
        if tag == "table":
            self.current = attrs["data-table"]
            self.tables[self.current] = []
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.tables[self.current].append([])
        elif tag in ("td", "th") and self.in_body:
            self.cell = []

    def handle_endtag(self, tag):  # noqa: ANN001, ANN201
        if tag in ("td", "th") and self.cell is not None:
            self.tables[self.current][-1].append("".join(self.cell))
            self.cell = None
        elif tag == "tbody":
            self.in_body = False

    def handle_data(self, data):  # noqa: ANN001, ANN201
        if self.cell is not None:
            self.cell.append(data)


def test_html_json_and_csv_agree(written) -> None:  # noqa: ANN001
    report, out = written
    doc = json.loads((out / "report.json").read_text())
    parser = _Cells()
    parser.feed((out / "report.html").read_text())
    assert set(parser.tables) == set(doc["tables"]) == set(report.tables)
    for name, table in doc["tables"].items():
        with (out / f"{name}.csv").open(newline="") as f:
            header, *csv_rows = list(csv.reader(f))
        assert header == [c["key"] for c in table["columns"]]
        as_text = [
            ["" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)) for v in row]
            for row in table["rows"]
        ]
        assert csv_rows == as_text, name
        assert parser.tables[name] == as_text, name
