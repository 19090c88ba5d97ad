"""The image's conditions without Docker (deploy/Dockerfile): a regular install of the built wheel in a fresh venv,
the package read-only, ``HOME`` unwritable, the working directory read-only, ``NUMBA_CACHE_DIR`` and every data
path on one writable folder (the image's volume). There the worker's modules import and a replay counts its reads.

Read-only means read-only for root too: as root (file modes do not stop it) the commands run in a mount namespace
of their own (``unshare -m``) with those folders bind-mounted read-only, as a container's read-only root is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_replay import HOTLIST, events
from tests.test_wheel import wheel  # noqa: F401 - the built wheel (module fixture)

IMPORTS = "import streams.cli.app, streams.worker.app, streams.core.engine.compiled; print('imported')"


def locked(cmd: list[str], read_only: list[Path]) -> list[str]:
    """``cmd`` with ``read_only`` mounted read-only when running as root (chmod already covers everyone else)."""
    if os.geteuid() != 0:
        return cmd
    mounts = " && ".join(f"mount --bind '{p}' '{p}' && mount -o remount,ro,bind '{p}'" for p in read_only)
    return ["unshare", "-m", "sh", "-c", f'{mounts} && cd "$PWD" && exec "$@"', "sh", *cmd]


@pytest.fixture
def image(wheel: Path) -> Iterator[dict]:  # noqa: F811 - the imported fixture
    root = Path(tempfile.mkdtemp(prefix="platestream-image-"))
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    purelib = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # dependencies: this environment's
    package = purelib / "streams"
    home = root / "home"  # exists, read-only: what a UID without a home directory gets, or worse
    app = root / "app"  # the working directory: read-only like the rest of the root filesystem
    data = root / "data"  # the one writable volume
    for d in (home, app, data):
        d.mkdir()
    (data / "in.jsonl").write_bytes(b"\n".join(events()) + b"\n")
    (data / "hot.csv").write_text(HOTLIST)
    read_only = [package, home, app]
    for d in read_only:
        subprocess.run(["chmod", "-R", "a-w", str(d)], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "CLICKHOUSE_URL", "NUMBA_CACHE_DIR") and not k.startswith("PLATESTREAM_")
    }
    env.update(
        HOME=str(home),
        NUMBA_CACHE_DIR=str(data / "numba"),
        PLATESTREAM_CHDB_PATH=str(data / "chdb"),
        PLATESTREAM_PLATE_KEYS_FILE=str(data / "plate_keys"),
        PLATESTREAM_AUDIT_SIGNING_KEY_FILE=str(data / "audit.key"),
        PLATESTREAM_AUDIT_CHECKPOINT_DIR=str(data / "audit-checkpoints"),
    )
    try:
        yield {"bin": env_dir / "bin", "env": env, "app": app, "data": data, "read_only": read_only}
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def run(image: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        locked([*map(str, args)], image["read_only"]),
        cwd=image["app"],
        env=env or image["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_worker_imports_and_a_replay_runs_read_only(image: dict) -> None:
    probe = run(image, image["bin"] / "python", "-c", "open('written-here', 'w')")
    assert probe.returncode != 0 and any(m in probe.stderr for m in ("Read-only", "Permission denied")), probe.stderr

    imported = run(image, image["bin"] / "python", "-c", IMPORTS)
    assert imported.returncode == 0 and "imported" in imported.stdout, imported.stderr[-3000:]

    data = image["data"]
    replayed = run(
        image, image["bin"] / "platestream", "replay", data / "in.jsonl", "--hotlist", data / "hot.csv", "--out",
        data / "out",
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    summary = json.loads((data / "out" / "summary.json").read_text())
    assert summary["reads"] == 5 and summary["hits"]["by_match_kind"] == {
        "exact": 1,
        "region_mismatch": 1,
        "candidate": 1,
    }
    # The compiled core was cached where NUMBA_CACHE_DIR says (an image fills it at build time), nowhere else.
    assert list((data / "numba").rglob("*.nbi")), "no numba cache in NUMBA_CACHE_DIR"
    assert "no writable numba cache" not in replayed.stderr


def test_without_a_cache_dir_the_core_compiles_instead_of_failing(image: dict) -> None:
    env = {k: v for k, v in image["env"].items() if k != "NUMBA_CACHE_DIR"}
    imported = run(image, image["bin"] / "python", "-c", IMPORTS, env=env)
    assert imported.returncode == 0 and "imported" in imported.stdout, imported.stderr[-3000:]
    assert "no writable numba cache" in imported.stderr
