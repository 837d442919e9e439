"""The committed AsyncAPI documents pass the AsyncAPI project's own parser (npm @asyncapi/parser,
pinned in tools/asyncapi), and that parser does reject a broken document, so the check can fail.

On a clean clone the pinned parser is installed here with `npm ci` from the committed lock file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.contract import official_parser
from scripts.contract.published import CONTRACT_DIR

DOCUMENTS = sorted((CONTRACT_DIR / "asyncapi").glob("*.json"))
Breakage = Callable[[dict[str, Any]], None]


def test_the_committed_asyncapi_documents_pass_the_official_parser() -> None:
    assert [path.stem for path in DOCUMENTS] == ["intake", "outcomes", "placement"]
    result = official_parser.validate(DOCUMENTS)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in DOCUMENTS:
        assert f"{path}: valid AsyncAPI 3.0.0" in result.stdout


def _drop_info_version(document: dict[str, Any]) -> None:
    del document["info"]["version"]


def _misspell_an_operation_action(document: dict[str, Any]) -> None:
    operation = next(iter(document["operations"].values()))
    operation["action"] = "publish"  # AsyncAPI 2 wording, not valid in 3.0


def _point_a_message_at_a_missing_schema(document: dict[str, Any]) -> None:
    message = next(iter(document["components"]["messages"].values()))
    message["payload"] = {"$ref": "#/components/schemas/NoSuchEnvelope"}


def _give_a_key_binding_an_unknown_field(document: dict[str, Any]) -> None:
    message = next(iter(document["components"]["messages"].values()))
    message["bindings"]["kafka"]["partitionKey"] = "subject"


@pytest.mark.parametrize(
    ("breakage", "diagnostic"),
    [
        (_drop_info_version, 'must have required property "version"'),
        (_misspell_an_operation_action, '"action" property must be equal to one of'),
        (_point_a_message_at_a_missing_schema, "NoSuchEnvelope' does not exist"),
        (_give_a_key_binding_an_unknown_field, 'Property "partitionKey" is not expected'),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_the_official_parser_rejects_a_broken_document(
    tmp_path: Path, breakage: Breakage, diagnostic: str
) -> None:
    document = json.loads((CONTRACT_DIR / "asyncapi" / "intake.json").read_text(encoding="utf-8"))
    breakage(document)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    result = official_parser.validate([broken])
    assert result.returncode == 1, result.stdout
    assert f"{broken}: INVALID" in result.stderr
    assert diagnostic in result.stderr, result.stderr


def test_validating_nothing_fails(tmp_path: Path) -> None:
    empty = tmp_path / "asyncapi"
    empty.mkdir()
    result = official_parser.validate([empty / "missing.json"])
    assert result.returncode == 1
    assert "cannot be read" in result.stderr
