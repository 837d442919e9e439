"""The AsyncAPI project's own parser (npm @asyncapi/parser, pinned in tools/asyncapi), run on the
generated documents: a document it accepts opens in the AsyncAPI tools partners use."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from scripts.node_tool import NodeTool

PARSER = NodeTool(folder="asyncapi", package="@asyncapi/parser", script="validate.mjs")


def validate(documents: Sequence[Path]) -> subprocess.CompletedProcess[str]:
    """Run tools/asyncapi/validate.mjs on the documents; returncode 0 means no errors."""
    return PARSER.run([str(path) for path in documents])
