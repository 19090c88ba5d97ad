"""NCIC-style hot-list CSV import: columns, legal basis, dates, and what admission makes of it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from streams.config.settings import load_policy
from streams.core.hotlist import HotList
from streams.core.policy import admit
from streams.errors import HotlistError
from streams.ingest.hotlist_csv import read_hotlist_csv
from streams.model.hotlist import FULL_ENTRY_SCHEMA

HEADER = "plate,state,type,reason,record_number,warrant_number,entry_date,expires_at\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    p = tmp_path / "hot.csv"
    p.write_text(header + body)
    return p


def test_columns_and_legal_basis(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "7ABC123,CA,PC,Stolen_Vehicle ,0123,,2026-09-01,2026-09-30,\n"
        "8XYZ999,NV,PC,arrest_warrant,N77,W-1,2026-09-01T10:00:00,2027-01-01 00:00:00,\n"
        "1AAA111,,PC,emergency,,,09/20/2026,2026-09-22T00:00:00+0000,E-5\n",
        header=HEADER.replace("expires_at", "expires_at,case_number"),
    )
    entries, refused = read_hotlist_csv(p)
    assert entries.schema == FULL_ENTRY_SCHEMA and refused.num_rows == 0
    rows = entries.to_pylist()
    # ids from the source and the record number (else the warrant, else the case number), never the row
    assert [r["entry_id"] for r in rows] == ["ncic_extract:0123", "ncic_extract:N77", "ncic_extract:E-5"]
    assert [r["region"] for r in rows] == ["CA", "NV", ""]
    assert rows[0]["reason"] == "stolen_vehicle"  # trimmed, lower-cased
    assert (rows[0]["legal_basis_type"], rows[0]["legal_basis"]) == ("record_number", "0123")  # leading zero kept
    assert (rows[1]["legal_basis_type"], rows[1]["legal_basis"]) == ("warrant", "W-1")  # warrant wins
    assert (rows[2]["legal_basis_type"], rows[2]["legal_basis"]) == ("case_number", "E-5")
    assert [r["source"] for r in rows] == ["ncic_extract"] * 3
    ms = entries["valid_from"].cast(pa.int64()).to_pylist()
    assert ms[0] == 1_788_220_800_000  # 2026-09-01T00:00:00Z
    assert ms[1] == 1_788_220_800_000 + 10 * 3_600_000
    assert ms[2] == 1_789_862_400_000  # 09/20/2026
    assert entries["expires_at"].cast(pa.int64()).to_pylist()[2] == 1_790_035_200_000


def test_unreadable_dates_are_refused_not_guessed(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "7ABC123,CA,PC,stolen_vehicle,N1,,yesterday,2026-09-30\n"
        "7ABC124,CA,PC,stolen_vehicle,N2,,2026-09-01,31/12/2026\n"
        "7ABC125,CA,PC,stolen_vehicle,N3,,,2026-09-30\n",
    )
    entries, refused = read_hotlist_csv(p)
    assert refused.to_pylist() == [{"line": 2, "rule": "bad_date"}, {"line": 3, "rule": "bad_date"}]  # no plate
    assert entries["plate"].to_pylist() == ["7ABC125"]
    assert entries["valid_from"].null_count == 1  # empty is "not given", not an error


def test_optional_columns_and_case_insensitive_header(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "X1,7abc123,us-ca,stolen_plate,,,C-9,agency-1,officer,state_feed,2026-10-01\n",
        header="Entry_ID,PLATE,State,Offense_Code,Record_Number,Warrant_Number,Case_Number,Agency,Entered_By,Source,"
        "Expires_At\n",
    )
    entries, refused = read_hotlist_csv(p)
    row = entries.to_pylist()[0]
    assert row["entry_id"] == "X1" and row["reason"] == "stolen_plate" and row["region"] == "us-ca"
    assert (row["legal_basis_type"], row["legal_basis"]) == ("case_number", "C-9")
    assert (row["agency"], row["entered_by"], row["source"]) == ("agency-1", "officer", "state_feed")
    assert row["valid_from"] is None


def test_admission_of_an_import(tmp_path: Path) -> None:
    now = 1_790_000_000_000  # 2026-09-21
    p = write(
        tmp_path,
        "7ABC123,CA,PC,stolen_vehicle,N1,,2026-09-01,2026-09-30\n"  # admitted
        "8XYZ999,CA,PC,arrest_warrant,N2,,2026-09-01,2027-01-01\n"  # record number, no warrant
        "1AAA111,CA,PC,stolen_vehicle,N3,,2026-09-01,2026-12-01\n"  # beyond 30 days
        "2BBB222,CA,PC,gang_database,N4,,2026-09-01,2026-09-30\n"  # may not alert
        "3CCC333,CA,PC,stolen_vehicle,,,2026-09-01,2026-09-30\n"  # no legal basis: no stable id either
        "4DDD444,CA,PC,stolen_vehicle,N5,,2026-09-01,\n",  # no expiry
    )
    entries, refused = read_hotlist_csv(p)
    assert refused.to_pylist() == [{"line": 6, "rule": "no_record_number"}]
    adm = admit(entries, load_policy(), now)
    assert adm.admitted["plate"].to_pylist() == ["7ABC123"]
    assert dict(zip(adm.refused["plate"].to_pylist(), adm.refused["rule"].to_pylist(), strict=True)) == {
        "8XYZ999": "warrant_required",
        "1AAA111": "expiry_beyond_max",
        "2BBB222": "reason_not_allowed",
        "4DDD444": "expiry_required",
    }
    assert len(HotList.build(adm.admitted)) == 1


def test_missing_file_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(HotlistError):
        read_hotlist_csv(tmp_path / "nope.csv")
    with pytest.raises(HotlistError, match="reason"):
        read_hotlist_csv(write(tmp_path, "7ABC123\n", header="plate\n"))


def test_a_repeated_column_is_a_clear_error(tmp_path):
    # found by tests/ingest/test_fuzz_inputs.py: it was a KeyError from pyarrow
    for header in ("entry_id,entry_id,plate,reason", "entry_id,plate,state,region,reason"):
        path = tmp_path / "dup.csv"
        path.write_text(header + "\n")
        with pytest.raises(HotlistError, match="more than once"):
            read_hotlist_csv(path)
