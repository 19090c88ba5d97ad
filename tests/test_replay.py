"""``platestream replay`` end to end on small files: JSON lines, Arrow IPC and Parquet, with a hot-list CSV."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streams.config.settings import Settings
from streams.loadtest.synth import Synth, SynthConfig
from streams.run.replay import replay

T0 = 1_790_000_000_000  # 2026-09-21T14:13:20Z
HIT_FIELDS = {
    "hit_id",
    "camera_id",
    "read_time",
    "read_plate",
    "read_region",
    "entry_plate",
    "entry_region",
    "reason",
    "match_kind",
    "alert",
    "status",
    "ocr_confidence",
    "evidence",
}
SUMMARY_KEYS = {"reads", "heartbeats", "duplicates", "hits", "dead_letters", "hotlist_refused"}

HOTLIST = (
    "plate,state,type,reason,record_number,warrant_number,entry_date,expires_at\n"
    "7ABC123,CA,PC,stolen_vehicle,NCIC001,,2026-09-01,2026-09-30\n"  # exact (alpr_group)
    "8XYZ999,CA,PC,arrest_warrant,,W-17,2026-09-01,2027-01-01\n"  # region_mismatch (own read from NV)
    "5KL9999,,PC,stolen_plate,NCIC002,,2026-09-01,2026-09-30\n"  # candidate (any region)
    "2BBB222,CA,PC,gang_database,X1,,2026-09-01,2026-09-30\n"  # refused: reason_not_allowed
    "3CCC333,CA,PC,stolen_vehicle,NCIC003,,2026-09-01,2026-12-31\n"  # refused: expiry_beyond_max
    "4DDD444,CA,PC,stolen_vehicle,NCIC004,,someday,2026-09-30\n"  # refused: bad_date
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.upper().startswith("PLATESTREAM_") or k.upper() == "CLICKHOUSE_URL":
            monkeypatch.delenv(k)


def events() -> list[bytes]:
    group = {
        "data_type": "alpr_group",
        "epoch_start": T0,
        "camera_id": "cam-1",
        "agent_uid": "agent-1",
        "best_uuid": "uuid-1",
        "best_plate_number": "7ABC123",
        "best_region": "us-ca",
        "best_confidence": 91.5,
        "best_plate": {
            "plate": "7ABC123",
            "confidence": 91.5,
            "region": "us-ca",
            "candidates": [{"plate": "7ABC123", "confidence": 91.5}, {"plate": "7A8C123", "confidence": 80.0}],
        },
    }
    docs: list[Any] = [
        group,
        {**group, "best_uuid": "uuid-2", "epoch_start": T0 + 400},  # second frame of the passage: duplicate
        {
            "data_type": "heartbeat",
            "timestamp": T0 + 1000,
            "agent_uid": "agent-1",
            "video_streams": [{"camera_id": "cam-1"}, {"camera_id": "cam-2"}],
        },
        {
            "read_id": "r-nv",
            "camera_id": "cam-2",
            "captured_at": T0 + 2000,
            "plate": "8xyz 999",
            "region": "NV",
            "confidence": 95,
        },
        {
            "read_id": "r-cand",
            "camera_id": "cam-3",
            "captured_at": T0 + 3000,
            "plate": "SKL9999",
            "region": "OR",
            "confidence": 70,
            "candidates": [{"plate": "5KL9999", "confidence": 60}],
        },
        {"read_id": "r-noplate", "camera_id": "cam-2", "captured_at": T0 + 4000, "plate": "", "confidence": 95},
        {"read_id": "r-miss", "camera_id": "cam-2", "captured_at": T0 + 5000, "plate": "9QQQ000", "region": "CA"},
        {"data_type": "alpr_alert", "plate": "X"},
    ]
    return [json.dumps(d, separators=(",", ":")).encode() for d in docs] + [b"{this is not json"]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    lines = events()
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines[:3]) + b"\n\n" + b"\r\n".join(lines[3:]) + b"\n")  # blank line, CRLF
    hot = tmp_path / "hot.csv"
    hot.write_text(HOTLIST)
    return src, hot


def read_out(out: Path) -> tuple[list[dict], list[dict], dict]:
    hits = [json.loads(x) for x in (out / "hits.jsonl").read_text().splitlines()]
    dead = [json.loads(x) for x in (out / "dead_letters.jsonl").read_text().splitlines()]
    return hits, dead, json.loads((out / "summary.json").read_text())


def test_replay_json_lines(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    src, hot = inputs
    result = replay([src], Settings(), tmp_path / "out", hot)
    hits, dead, summary = read_out(tmp_path / "out")
    assert result.summary == summary

    assert SUMMARY_KEYS <= set(summary)
    assert summary["reads"] == 5  # 2 alpr_group + 3 good own reads
    assert summary["duplicates"] == 1
    assert summary["heartbeats"] == 2
    assert summary["hits"]["total"] == 3 and summary["hits"]["alerts"] == 2
    assert summary["hits"]["by_match_kind"] == {"exact": 1, "region_mismatch": 1, "candidate": 1}
    assert summary["dead_letters"] == {
        "total": 3,
        "by_reason": {"missing_plate": 1, "unknown_event": 1, "undecodable": 1},
    }
    assert summary["hotlist_admitted"] == 3
    assert summary["hotlist_refused"] == {
        "total": 3,
        "by_rule": {"bad_date": 1, "reason_not_allowed": 1, "expiry_beyond_max": 1},
    }

    by_kind = {h["match_kind"]: h for h in hits}
    for h in hits:
        assert HIT_FIELDS <= set(h)
        assert h["status"] == "unverified"
    ex = by_kind["exact"]
    assert (ex["camera_id"], ex["read_plate"], ex["read_region"]) == ("cam-1", "7ABC123", "CA")
    assert (ex["entry_plate"], ex["entry_region"], ex["reason"]) == ("7ABC123", "CA", "stolen_vehicle")
    assert ex["read_time"] == "2026-09-21T14:13:20Z" and ex["alert"] is True
    assert ex["ocr_confidence"] == 91.5 and ex["read_id"] == "uuid-1"
    assert ex["evidence"] == {
        "differing_positions": [],
        "matched_candidate": None,
        "candidate_rank": None,
        "region_unknown": False,
        "candidates": [{"plate": "7A8C123", "confidence": 80.0}],  # the reader's other reading, for the console
    }
    mm = by_kind["region_mismatch"]
    assert (mm["read_region"], mm["entry_region"], mm["alert"]) == ("NV", "CA", False)
    cand = by_kind["candidate"]
    assert cand["evidence"]["matched_candidate"] == "5KL9999" and cand["evidence"]["candidate_rank"] == 0
    assert (cand["entry_region"], cand["alert"]) == ("", True)

    # decoder-level dead letters keep the line's exact bytes; origins name the file and line
    lines = events()
    by_reason = {d["reason"]: d for d in dead}
    assert base64.b64decode(by_reason["undecodable"]["original_b64"]) == lines[8]
    assert by_reason["undecodable"]["origin"] == "in.jsonl:10"
    assert base64.b64decode(by_reason["unknown_event"]["original_b64"]) == lines[7]
    assert by_reason["unknown_event"]["origin"] == "in.jsonl:9"
    assert by_reason["missing_plate"]["origin"] == "in.jsonl:7"
    assert json.loads(base64.b64decode(by_reason["missing_plate"]["original_b64"]))["read_id"] == "r-noplate"


def test_replay_is_deterministic(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    src, hot = inputs
    replay([src], Settings(), tmp_path / "a", hot)
    replay([src], Settings(), tmp_path / "b", hot)
    for name in ("hits.jsonl", "dead_letters.jsonl", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "hits.jsonl").read_text().count("\n") == 3


def test_replay_without_hotlist(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    src, _ = inputs
    hits, dead, summary = (replay([src], Settings(), tmp_path / "o"), *read_out(tmp_path / "o"))[1:]
    assert hits == [] and summary["hits"]["total"] == 0 and len(dead) == 3
    assert summary["hotlist_admitted"] == 0 and summary["hotlist_refused"]["total"] == 0


def _synth() -> tuple[pa.Table, pa.Table]:
    s = Synth(SynthConfig(seed=11, vehicles=400, cameras=5, hot_share=0.05, hot_traffic=0.2, bad_rate=0.0))
    return s.batch(600), s.hotlist()


def _hotlist_csv(path: Path, entries: pa.Table) -> Path:
    rows = ["plate,state,type,reason,record_number,warrant_number,entry_date,expires_at"]
    for e in entries.to_pylist():
        num = e["legal_basis"]
        rec, war = (num, "") if e["legal_basis_type"] == "record_number" else ("", num)
        rows.append(
            f"{e['plate']},{e['region']},PC,{e['reason']},{rec},{war},"
            f"{e['valid_from']:%Y-%m-%dT%H:%M:%S},{e['expires_at']:%Y-%m-%dT%H:%M:%S}"
        )
    path.write_text("\n".join(rows) + "\n")
    return path


def _write_stream(path: Path, t: pa.Table) -> Path:
    with pa.ipc.new_stream(str(path), t.schema) as w:
        for b in t.to_batches(max_chunksize=250):
            w.write_batch(b)
    return path


def test_arrow_stream_and_parquet_give_the_same_result(tmp_path: Path) -> None:
    reads, entries = _synth()
    hot = _hotlist_csv(tmp_path / "hot.csv", entries)
    pq.write_table(reads, tmp_path / "r.parquet", row_group_size=250)
    sources = {
        "arrows": _write_stream(tmp_path / "r.arrows", reads),
        "ipc": _write_stream(tmp_path / "r.ipc", reads),
        "parquet": tmp_path / "r.parquet",
    }
    outs = {}
    for name, path in sources.items():
        replay([path], Settings(), tmp_path / name, hot)
        outs[name] = read_out(tmp_path / name)
    hits, dead, summary = outs["arrows"]
    assert summary["reads"] == reads.num_rows and dead == []
    assert summary["duplicates"] > 0 and summary["hits"]["total"] > 0
    assert summary["hits"]["total"] == len(hits)
    for name in ("ipc", "parquet"):
        assert outs[name] == outs["arrows"], name


def test_arrow_ipc_file_format(tmp_path: Path) -> None:
    """`.arrow` is the Arrow IPC *file* format's extension (what pyarrow.ipc.new_file/feather write); replay opens
    every Arrow input as a stream, so such a file ends up as one `undecodable` dead letter."""
    reads, entries = _synth()
    with pa.ipc.new_file(str(tmp_path / "r.arrow"), reads.schema) as w:
        w.write_table(reads)
    replay([tmp_path / "r.arrow"], Settings(), tmp_path / "o", _hotlist_csv(tmp_path / "hot.csv", entries))
    _, dead, summary = read_out(tmp_path / "o")
    assert dead == [] and summary["reads"] == reads.num_rows


def test_arrow_stream_with_wrong_schema_and_bad_files(tmp_path: Path) -> None:
    reads, _ = _synth()
    wrong = _write_stream(tmp_path / "w.arrows", reads.drop_columns(["plate"]))
    junk = tmp_path / "junk.arrows"
    junk.write_bytes(b"definitely not arrow")
    other = tmp_path / "notes.txt"
    other.write_bytes(b"hello")
    replay([wrong, junk, other], Settings(), tmp_path / "o")
    _, dead, summary = read_out(tmp_path / "o")
    assert summary["reads"] == 0
    got = [(d["reason"], d["origin"]) for d in dead]
    assert ("wrong_schema", "w.arrows#batch0") in got
    assert ("undecodable", "junk.arrows") in got and ("undecodable", "notes.txt") in got
    junk_dl = next(d for d in dead if d["origin"] == "junk.arrows")
    assert base64.b64decode(junk_dl["original_b64"]) == b"definitely not arrow"


def test_several_inputs_accumulate(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    src, hot = inputs
    copy = tmp_path / "again.ndjson"
    copy.write_bytes(src.read_bytes())
    replay([src], Settings(), tmp_path / "one", hot)
    replay([src, copy], Settings(), tmp_path / "two", hot)
    one, two = read_out(tmp_path / "one")[2], read_out(tmp_path / "two")[2]
    # the second copy repeats the same event times: its reads are duplicates, its bad lines dead letters again
    assert two["reads"] == 2 * one["reads"]
    assert two["dead_letters"]["total"] == 2 * one["dead_letters"]["total"]
    assert two["duplicates"] == one["duplicates"] + one["reads"]


def test_replay_applies_the_workers_input_limits(tmp_path: Path) -> None:
    cams = tmp_path / "cameras.csv"
    cams.write_text("camera_id,site\ncam-1,s1\n")
    src = tmp_path / "reads.jsonl"
    docs = [
        {"read_id": "ok", "camera_id": "cam-1", "captured_at": T0, "plate": "7ABC123"},
        {"read_id": "long", "camera_id": "cam-1", "captured_at": T0, "plate": "7" * 40},
        {"read_id": "stranger", "camera_id": "cam-9", "captured_at": T0, "plate": "7ABC124"},
    ]
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    replay([src], Settings(camera_registry_path=cams), tmp_path / "o")
    _, dead, summary = read_out(tmp_path / "o")
    assert sorted(d["reason"] for d in dead) == ["plate_too_long", "unknown_camera"]
    assert summary["reads"] == 1


def test_the_replay_command_takes_a_folder_of_load_run_output(tmp_path: Path) -> None:
    """`platestream load run --to parquet --out DIR` writes a folder; `platestream replay DIR` reads it."""
    import subprocess  # noqa: PLC0415 - only this test runs the commands
    import sys  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
    run = [sys.executable, "-m", "streams.cli"]
    made = subprocess.run([*run, "load", "run", "--to", "parquet", "--out", str(tmp_path / "reads"), "--count", "5000",
                           "--rate", "1000000"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert any(p.suffix == ".parquet" for p in (tmp_path / "reads").rglob("*"))
    done = subprocess.run([*run, "replay", str(tmp_path / "reads"), "--out", str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["reads"] + summary["dead_letters"]["total"] == 5000  # every read generated, accounted for
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = subprocess.run([*run, "replay", str(empty)], env=env, capture_output=True, text=True, timeout=60)
    assert nothing.returncode == 2 and "no input files" in nothing.stderr and "Traceback" not in nothing.stderr
