"""Tools from the npm registry that the checks run (the AsyncAPI parser, the Strimzi resource
validators), each pinned in its own folder under tools/ with a committed lock file.

A clean clone needs nothing installed by hand: the first use runs `npm ci` from the lock file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]


class NodeToolUnavailable(RuntimeError):
    """Node or npm is missing, or the pinned package could not be installed."""


@dataclass(frozen=True)
class NodeTool:
    """A folder of tools/ holding package.json, package-lock.json and the script to run."""

    folder: str
    package: str
    script: str

    @property
    def directory(self) -> Path:
        return ROOT / "tools" / self.folder

    def _installed_version(self) -> str | None:
        manifest = self.directory / "node_modules" / self.package / "package.json"
        if not manifest.is_file():
            return None
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])

    def _pinned_version(self) -> str:
        manifest = json.loads((self.directory / "package.json").read_text(encoding="utf-8"))
        return str(manifest["dependencies"][self.package])

    def ensure_installed(self) -> None:
        if self._installed_version() == self._pinned_version():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise NodeToolUnavailable("npm is not on PATH: install Node.js 20 or later")
        # Install scripts are skipped: these packages need none, and one dependency's only
        # script reports usage to a third party.
        result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [
                npm,
                "ci",
                "--prefix",
                str(self.directory),
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if result.returncode != 0:
            raise NodeToolUnavailable(
                f"npm ci in {self.directory} failed:\n{result.stdout}\n{result.stderr}"
            )

    def run(
        self, arguments: Sequence[str], stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        self.ensure_installed()
        node = shutil.which("node")
        if node is None:
            raise NodeToolUnavailable("node is not on PATH: install Node.js 20 or later")
        return subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [node, str(self.directory / self.script), *arguments],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
