"""Helm for the chart tests: the binary deploy/tools/helm.sh prints (building it with Go when missing).

With CI=true a Helm that cannot be had fails the tests; elsewhere too, since the script only needs Go: nothing here
skips for a missing tool.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import HELM_SCRIPT


@pytest.fixture(scope="session")
def helm() -> str:
    """The path of a Helm v3.22 binary."""
    run = subprocess.run(["bash", str(HELM_SCRIPT)], capture_output=True, text=True, timeout=900)
    path = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    if run.returncode != 0 or not Path(path).is_file():
        ci = " (CI=true: the chart tests need Helm)" if os.environ.get("CI") == "true" else ""
        pytest.fail(f"deploy/tools/helm.sh found or built no Helm{ci}: {run.stderr.strip()[-2000:]}")
    return path
