"""Importers of each extract shape (state NCIC fixed-width and delimited, Genetec AutoVu, the own CSV): list codes
mapped by the policy, ids stable under reordering, expiry rules, refusals by line number without the plate."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest

from streams.config.extract_policy import load_extract_policy
from streams.ingest.extracts.formats import read_extract

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1_788_307_200_000  # 2026-09-02T00:00:00Z
HOUR = 3_600_000
POLICY = load_extract_policy()
SHAPES = [("ncic-fixed", "ncic_fixed.txt"), ("ncic-delimited", "ncic_delimited.txt"), ("genetec", "genetec.txt")]


def by_id(table: pa.Table) -> dict[str, dict]:
    return {r["entry_id"]: r for r in table.to_pylist()}


@pytest.mark.parametrize("fmt", ["ncic-fixed", "ncic-delimited"])
def test_state_extract_maps_list_codes_and_sets_expiry(fmt: str) -> None:
    name = dict(SHAPES)[fmt]
    ex = read_extract(FIXTURES / name, fmt, POLICY, "ncic_extract", NOW)
    rows = by_id(ex.entries)
    assert set(rows) == {"ncic_extract:V123456789", "ncic_extract:W000000017", "ncic_extract:L000000042"}
    stolen, wanted, plate = (rows[f"ncic_extract:{n}"] for n in ("V123456789", "W000000017", "L000000042"))
    assert (stolen["reason"], stolen["legal_basis_type"], stolen["legal_basis"]) == (
        "stolen_vehicle",
        "record_number",
        "V123456789",
    )
    assert (wanted["reason"], wanted["legal_basis_type"]) == ("arrest_warrant", "warrant")  # from the list code
    assert wanted["legal_basis_text"] == "Bench warrant, Dept 4"  # kept as given
    assert plate["reason"] == "stolen_plate"
    # no expiry in the extract: the next refresh (12 h) plus the grace (12 h), and the rule says so
    assert int(stolen["expires_at"].timestamp() * 1000) == NOW + 24 * HOUR
    assert stolen["expiry_rule"].startswith("source_refresh")
    assert plate["expiry_rule"] == "" and plate["expires_at"].isoformat().startswith("2026-12-01")
    assert stolen["agency"] == "CA0190000" and stolen["region"] == "CA"


def test_state_extract_refusals_name_line_and_rule_never_the_plate() -> None:
    fixed = read_extract(FIXTURES / "ncic_fixed.txt", "ncic-fixed", POLICY, "ncic_extract", NOW)
    assert fixed.refused.to_pylist() == [
        {"line": 4, "rule": "unknown_list_code"},
        {"line": 6, "rule": "no_record_number"},  # line 5 is blank: not a record
        {"line": 7, "rule": "short_record"},
    ]
    delim = read_extract(FIXTURES / "ncic_delimited.txt", "ncic-delimited", POLICY, "ncic_extract", NOW)
    assert delim.refused.to_pylist() == [
        {"line": 4, "rule": "unknown_list_code"},
        {"line": 5, "rule": "wrong_field_count"},
        {"line": 6, "rule": "bad_date"},
    ]
    assert delim.refused.column_names == ["line", "rule"]


def test_genetec_hotlist() -> None:
    ex = read_extract(FIXTURES / "genetec.txt", "genetec", POLICY, "genetec", NOW)
    rows = by_id(ex.entries)
    assert set(rows) == {"genetec:V123456789", "genetec:W-2026-17", "genetec:M000000001"}
    felon = rows["genetec:W-2026-17"]
    assert (felon["reason"], felon["legal_basis_type"]) == ("felony_vehicle", "warrant")
    assert felon["legal_basis_text"] == "Warrant W-2026-17, Superior Court"
    assert int(felon["expires_at"].timestamp() * 1000) == NOW + 36 * HOUR  # genetec: 24 h refresh + 12 h grace
    assert rows["genetec:V123456789"]["expiry_rule"] == ""  # the list gave one
    # a plate-only line (valid in AutoVu) has no category we can map; an unmapped category neither
    assert ex.refused.to_pylist() == [
        {"line": 5, "rule": "unknown_list_code"},
        {"line": 6, "rule": "unknown_list_code"},
    ]


def test_genetec_without_header_is_positional(tmp_path: Path) -> None:
    p = tmp_path / "h.txt"
    p.write_text("7ABC123;CA;Stolen;2026-09-01;2026-09-20;V1;\n")
    ex = read_extract(p, "genetec", POLICY, "genetec", NOW)
    assert ex.entries["entry_id"].to_pylist() == ["genetec:V1"] and ex.refused.num_rows == 0


@pytest.mark.parametrize(("fmt", "name"), [*SHAPES, ("csv", None)])
def test_ids_are_stable_when_the_file_is_reordered(tmp_path: Path, fmt: str, name: str | None) -> None:
    if name is None:
        text = (
            "plate,state,type,reason,record_number,warrant_number,entry_date,expires_at,legal_basis\n"
            "7ABC123,CA,PC,stolen_vehicle,V1,,2026-09-01,2026-09-20,\n"
            '8XYZ999,NV,PC,arrest_warrant,,W-1,2026-09-01,,"Warrant W-1, Dept 4"\n'
            "5QRS444,CA,PC,arrest_warrant,,W-2,2026-09-01,,\n"
            "5QRS445,CA,PC,arrest_warrant,,W-2,2026-09-01,,\n"  # one warrant, two vehicles
        )
    else:
        text = (FIXTURES / name).read_text()
    head, *body = text.splitlines(keepends=True)
    header = [head] if fmt in ("csv", "genetec") else []
    if not header:
        body = [head, *body]
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("".join(header + body))
    shuffled = [b for b in body if b.strip()]
    random.Random(7).shuffle(shuffled)
    second.write_text("".join(header + shuffled))
    a = read_extract(first, fmt, POLICY, "src", NOW).entries
    b = read_extract(second, fmt, POLICY, "src", NOW).entries
    key = ["entry_id", "plate", "reason", "legal_basis", "expires_at"]
    assert a.num_rows >= 3
    assert sorted(a.select(key).to_pylist(), key=str) == sorted(b.select(key).to_pylist(), key=str)
    if fmt == "csv":
        ids = by_id(a)
        assert ids["src:W-2"]["plate"] == "5QRS444" and ids["src:W-2#2"]["plate"] == "5QRS445"
        assert ids["src:W-1"]["legal_basis_text"] == "Warrant W-1, Dept 4"
