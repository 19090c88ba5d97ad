"""The report page in a real headless Chromium (Debian's, deploy/tools/chromium.sh; never downloaded): its charts
render with a size, nothing is logged as an error, nothing is fetched beyond the file itself; a screenshot is kept
under out/test-artifacts/."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.support.browser import launch

ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"


def test_the_page_renders_offline(out_dir: Path) -> None:
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((out_dir / "report.html").as_uri(), wait_until="load")
            charts = page.locator("figure svg[role=img]")
            assert charts.count() == 4
            for n in range(charts.count()):
                box = charts.nth(n).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50
                assert charts.nth(n).locator("title").count() == 1
                assert charts.nth(n).locator("path").count() > 10  # drawn: axes, bars, lines, text as paths
            assert page.locator("table caption").count() == page.locator("table").count() > 10
            assert "< 11" in page.locator("#table-funnel").inner_text()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert all(u.startswith("file://") for u in requests), [u for u in requests if not u.startswith("file://")]
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
