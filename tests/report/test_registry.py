"""The camera registry's report columns and the areas file, validated at start-up with clear messages."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from streams.config.settings import load_settings
from streams.errors import ConfigError
from streams.ingest.camera_sites import load_areas, load_camera_sites
from tests.report.seed import write_registry


def test_sites_and_areas(tmp_path: Path) -> None:
    cams, areas = write_registry(tmp_path)
    sites = load_camera_sites(cams)
    assert sites["cam-s1"].mount == "mobile" and sites["cam-s1"].area == "South"
    assert sites["cam-s2"].retired_on == date(2026, 1, 1)
    assert load_areas(areas)["North"].population == 60000
    settings = load_settings(camera_registry_path=cams, areas_path=areas)
    assert set(settings.areas()) == {"North", "South"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("c1,North,PD,pole,,", "mount 'pole'"),
        ("c1,North,PD,fixed,2026-13-01,", "deployed_on"),
        ("c1,North,PD,fixed,2026-02-01,2026-01-01", "retired_on is before"),
    ],
)
def test_bad_registry_rows_fail_at_start_up(tmp_path: Path, row: str, message: str) -> None:
    cams = tmp_path / "c.csv"
    cams.write_text(f"camera_id,area,agency,mount,deployed_on,retired_on\n{row}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(camera_registry_path=cams)


def test_bad_areas_files(tmp_path: Path) -> None:
    bad = tmp_path / "a.csv"
    bad.write_text("area,kind,population\nNorth,district,many\n")
    with pytest.raises(ConfigError, match="not a whole number"):
        load_settings(areas_path=bad)
    bad.write_text("area,population\nNorth,5\n")
    with pytest.raises(ConfigError, match="missing column"):
        load_settings(areas_path=bad)
    cams, _ = write_registry(tmp_path)
    bad.write_text("area,kind,population\nNorth,district,5\n")
    with pytest.raises(ConfigError, match="South"):
        load_settings(camera_registry_path=cams, areas_path=bad).areas()
