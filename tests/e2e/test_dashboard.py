"""The dashboard in a real headless browser: the outcomes service as a process on the real broker
and database, its pages opened in Debian's chromium through Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.async_api import Browser

from scripts.harness import Platform
from shared.settings import Settings
from tests.integration.test_outcomes_indicators import AS_OF, publish_dataset


@pytest.fixture
async def outcomes(env: dict[str, str], tmp_path: Path) -> AsyncIterator[Platform]:
    platform = Platform({**env, "INSATS_TODAY": AS_OF.isoformat()}, tmp_path / "logs")
    platform.start("outcomes")
    try:
        await platform.wait_ready("outcomes")
        yield platform
    finally:
        assert platform.stop("outcomes") == {"outcomes": 0}


async def test_a_programme_page_shows_indicators_against_the_goal_with_charts_and_hidden_groups(
    outcomes: Platform, settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    await publish_dataset(settings)
    base = f"http://127.0.0.1:{outcomes.services['outcomes'].port}"
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))

    await page.goto(f"{base}/dashboard")
    await page.click("text=Kalmar län: ESF-projekt")
    await page.wait_for_selector("#verdict")
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    verdict = page.locator("#verdict")
    assert await verdict.get_attribute("data-goal-met") == "true"
    text = await verdict.inner_text()
    assert "83 %" in text
    assert "5 / 6" in text
    assert "målet nått" in text
    row = page.locator('tr[data-indicator="esf_langsiktigt_resultat@2"]')
    assert "67 %" in await row.inner_text()  # 4 of 6 in work six months after exit
    assert "4 / 6" in await row.inner_text()
    # The funnel's last step (four in work or studies at exit) and Sökandelots (three people)
    # are too small to show.
    funnel = page.locator('svg[data-chart="funnel"]')
    assert "dolt" in (await funnel.text_content() or "")
    partners = page.locator('svg[data-chart="compare-partner"]')
    assert await partners.count() == 1
    shown = await partners.text_content() or ""
    assert "Kalejdo" in shown
    assert "83 %" in shown
    # Breakdowns sit in folded sections: unfold the one for places used, as a reader would.
    await page.click('details:has(table[data-breakdown="platsutnyttjande@1:partner"]) > summary')
    small = page.locator(
        'table[data-breakdown="platsutnyttjande@1:partner"] tr[data-group="sokandelots"]'
    )
    assert "dolt" in await small.inner_text()
    charts = await page.locator("svg[data-chart]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.chart)"
    )
    assert set(charts) >= {"funnel", "over-time", "compare-municipality", "compare-partner"}
    # Everything came from the service itself: no CDN, no fonts, no scripts from elsewhere.
    assert hosts == {urlparse(base).netloc}
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
