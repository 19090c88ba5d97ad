"""The package as a user installs it: a built wheel, not the checkout.

Builds the wheel from the sources, installs it with ``pip install --no-deps`` into a fresh virtual environment
outside the checkout (its dependencies come from this environment's site-packages through a ``.pth`` line, which
does not activate the editable install's finder), and runs ``platestream replay`` there from an empty folder. A
package that reads data beside the checkout (schemas, SQL, policies) fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.test_replay import HOTLIST, events

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy of what a source distribution holds, so nothing is written into the checkout.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "streams", src / "streams", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (found,) = dist.glob("platestream-*.whl")
    return found


def test_wheel_carries_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    checkout = REPO / "streams" / "resources"
    expected = {
        str(p.relative_to(REPO))
        for pattern in ("schemas/*.json", "schemas/clickhouse/*.sql", "policies/*.yaml", "policies/retention/*.yaml")
        for p in checkout.glob(pattern)
    }
    assert len(expected) >= 10
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"


def test_installed_wheel_replays_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies (numpy, pyarrow, numba, chdb, ...) without a second download: this environment's packages.
    (Path(purelib) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    work.mkdir()
    (work / "in.jsonl").write_bytes(b"\n".join(events()) + b"\n")
    (work / "hot.csv").write_text(HOTLIST)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "CLICKHOUSE_URL") and not k.startswith("PLATESTREAM_")
    }
    env["PLATESTREAM_CHDB_PATH"] = str(work / "chdb")

    where = subprocess.run(
        [py, "-c", "import streams; print(streams.__file__)"], cwd=work, env=env, capture_output=True, text=True
    )
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout + where.stderr

    run = subprocess.run(
        [env_dir / "bin" / "platestream", "replay", "in.jsonl", "--hotlist", "hot.csv", "--out", "out"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((work / "out" / "summary.json").read_text())
    assert summary["reads"] == 5 and summary["duplicates"] == 1 and summary["heartbeats"] == 2
    assert summary["hits"]["by_match_kind"] == {"exact": 1, "region_mismatch": 1, "candidate": 1}
    assert summary["hotlist_admitted"] == 3

    # The ClickHouse migrations come from the package too: all of them apply on a fresh embedded store.
    migrated = subprocess.run(
        [env_dir / "bin" / "platestream", "migrate"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    sql_files = sorted(p.name for p in (REPO / "streams" / "resources" / "schemas" / "clickhouse").glob("*.sql"))
    assert all(name in migrated.stdout for name in sql_files), migrated.stdout
