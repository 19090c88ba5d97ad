"""Debian's headless Chromium for the browser tests (installed by deploy/tools/chromium.sh, never downloaded),
driven by Playwright: one launch rule for the console's and the report's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Browser, Playwright

__all__ = ["CHROMIUM", "launch"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def launch(p: Playwright) -> Browser:
    """A headless Chromium; a clear failure (never a skip) where the machine lacks it."""
    assert Path(CHROMIUM).exists(), f"no chromium at {CHROMIUM}: run deploy/tools/chromium.sh"
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
