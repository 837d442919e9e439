"""The AsyncAPI project's own parser (npm @asyncapi/parser, pinned in tools/asyncapi), run on the
generated documents: a document it accepts opens in the AsyncAPI tools partners use."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from scripts.contract.published import ROOT

TOOL_DIR = ROOT / "tools" / "asyncapi"
PACKAGE = "@asyncapi/parser"


class ParserUnavailable(RuntimeError):
    """Node or npm is missing, or the pinned parser could not be installed."""


def _installed_version() -> str | None:
    manifest = TOOL_DIR / "node_modules" / PACKAGE / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def _pinned_version() -> str:
    manifest = json.loads((TOOL_DIR / "package.json").read_text(encoding="utf-8"))
    return str(manifest["dependencies"][PACKAGE])


def ensure_installed() -> None:
    """`npm ci` from the committed lock file when the pinned parser is not installed, so a clean
    clone needs nothing installed by hand."""
    if _installed_version() == _pinned_version():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ParserUnavailable("npm is not on PATH: install Node.js 20 or later")
    # Install scripts are skipped: the parser needs none, and one dependency's only script
    # reports usage to a third party.
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [npm, "ci", "--prefix", str(TOOL_DIR), "--ignore-scripts", "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise ParserUnavailable(f"npm ci in {TOOL_DIR} failed:\n{result.stdout}\n{result.stderr}")


def validate(documents: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    """Run tools/asyncapi/validate.mjs on the documents; returncode 0 means no errors."""
    ensure_installed()
    node = shutil.which("node")
    if node is None:
        raise ParserUnavailable("node is not on PATH: install Node.js 20 or later")
    return subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [node, str(TOOL_DIR / "validate.mjs"), *(str(path) for path in documents)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
