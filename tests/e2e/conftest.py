"""What the end-to-end tests share: the three services running as processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

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
