"""What the end-to-end tests share: the three services running as processes, and a real browser
(Debian's chromium through Playwright)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from scripts.harness import Platform
from shared.settings import Settings
from tests.support import platform_running


@pytest.fixture
async def platform(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> AsyncIterator[Platform]:
    # Depends on `settings` so the services stop before its teardown resets the namespace.
    async with platform_running(env, tmp_path / "logs") as running:
        yield running


@pytest.fixture
async def platform_at_year_end(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> AsyncIterator[Platform]:
    """The services with today fixed at the year's end, so that a journey walked through in
    the spring is past its follow-ups."""
    today = {**env, "INSATS_TODAY": "2026-12-31"}
    async with platform_running(today, tmp_path / "logs", clean_exit=False) as running:
        yield running


CHROMIUM = "/usr/bin/chromium"
HAS_CHROMIUM = Path(CHROMIUM).exists()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not HAS_CHROMIUM:
        pytest.skip("Debian's chromium is not installed (scripts/install_system_packages.sh)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()
