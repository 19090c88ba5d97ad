"""A real chDB store with one planted period of aggregates, and the report written from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.config.settings import load_settings
from streams.core.report_period import parse_period
from streams.run.report import build_report
from streams.run.report_render import write_report
from streams.store.clickhouse import migrate, open_store
from tests.report.seed import NOW_MS, plant, plant_holds, write_checkpoints, write_registry


@pytest.fixture(scope="package")
def written(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """(report, out folder) of the planted July 2026."""
    root = tmp_path_factory.mktemp("report")
    store = open_store(None, root / "chdb")
    migrate(store)
    plant(store)
    plant_holds(store)
    write_checkpoints(root / "checkpoints")
    cams, areas = write_registry(root)
    settings = load_settings(camera_registry_path=cams, areas_path=areas, audit_checkpoint_dir=root / "checkpoints")
    try:
        report = build_report(store, settings, parse_period("2026-07"), NOW_MS)
    finally:
        store.close()
    out = root / "reports" / "2026-07"
    write_report(report, out)
    return report, out


@pytest.fixture(scope="package")
def out_dir(written) -> Path:  # noqa: ANN001
    return written[1]
