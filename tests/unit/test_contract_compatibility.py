"""The compatibility check: a breaking change to a published version fails, an additive one
passes. Each kind of break is made on purpose here, so the check is shown to be able to fail."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field
from typer.testing import CliRunner

from scripts.contract import published
from scripts.contract.cli import contract_app
from scripts.contract.compatibility import Change, breaking_changes, compare
from scripts.contract.published import CONTRACT_DIR, Contract, build, load_schemas
from scripts.contract.schemas import Schema, event_schema
from shared.contracts import topics
from shared.contracts.envelope import EventData
from shared.contracts.intake import ReferralRejected
from shared.contracts.vocabulary import Identifier, Kommunkod, RejectionReason

V1 = ReferralRejected.TYPE
Mutation = Callable[[Schema], None]


@pytest.fixture(scope="module")
def published_v1() -> Schema:
    return event_schema(ReferralRejected)


def _data(schema: Schema) -> Schema:
    definitions: dict[str, Schema] = schema["$defs"]
    return definitions["ReferralRejected"]


def _remove_field(schema: Schema) -> None:
    del _data(schema)["properties"]["message_sv"]
    _data(schema)["required"].remove("message_sv")


def _retype_field(schema: Schema) -> None:
    _data(schema)["properties"]["received_at"] = {"type": "integer"}


def _make_field_nullable(schema: Schema) -> None:
    _data(schema)["properties"]["message"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def _change_format(schema: Schema) -> None:
    _data(schema)["properties"]["received_at"]["format"] = "date"


def _narrow_enum(schema: Schema) -> None:
    schema["$defs"]["RejectionReason"]["enum"].remove("ALREADY_ENROLLED")


def _require_existing_field(schema: Schema) -> None:
    _data(schema)["required"].append("rule")


def _add_required_field(schema: Schema) -> None:
    _data(schema)["properties"]["caseworker"] = {"type": "string"}
    _data(schema)["required"].append("caseworker")


def _tighten_constraint(schema: Schema) -> None:
    _data(schema)["properties"]["referral_id"]["maxLength"] = 16


def _change_default(schema: Schema) -> None:
    _data(schema)["properties"]["rule"]["default"] = "eligibility.age"


def _change_constant(schema: Schema) -> None:
    schema["properties"]["specversion"]["const"] = "2.0"


@pytest.mark.parametrize(
    ("mutation", "path", "kind"),
    [
        (_remove_field, "data.message_sv", "field removed"),
        (_retype_field, "data.received_at", "field retyped"),
        (_make_field_nullable, "data.message", "field retyped"),
        (_change_format, "data.received_at", "field retyped"),
        (_narrow_enum, "data.reason", "enum narrowed"),
        (_require_existing_field, "data.rule", "field newly required"),
        (_add_required_field, "data.caseworker", "field newly required"),
        (_tighten_constraint, "data.referral_id", "constraint tightened"),
        (_change_default, "data.rule", "default changed"),
        (_change_constant, "specversion", "constant changed"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_a_breaking_change_to_a_published_version_fails_the_check(
    published_v1: Schema, mutation: Mutation, path: str, kind: str
) -> None:
    changed = copy.deepcopy(published_v1)
    mutation(changed)
    broken = breaking_changes(compare({V1: published_v1}, {V1: changed}))
    assert Change(V1, path, kind, breaking=True) in [
        Change(change.event_type, change.path, change.kind, change.breaking) for change in broken
    ], broken


def test_removing_a_published_event_type_fails_the_check(published_v1: Schema) -> None:
    assert breaking_changes(compare({V1: published_v1}, {})) == [
        Change(V1, "", "event type removed", breaking=True)
    ]


def _add_optional_field(schema: Schema) -> None:
    _data(schema)["properties"]["caseworker"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }


def _widen_enum(schema: Schema) -> None:
    schema["$defs"]["RejectionReason"]["enum"].append("PROGRAMME_FULL")


def _reword_descriptions(schema: Schema) -> None:
    _data(schema)["description"] = "Said differently."
    _data(schema)["properties"]["message"]["description"] = "In English, for people."


def _loosen_constraint(schema: Schema) -> None:
    _data(schema)["properties"]["municipality"]["anyOf"][0].pop("pattern")


def _make_field_optional(schema: Schema) -> None:
    _data(schema)["required"].remove("received_at")


@pytest.mark.parametrize(
    ("mutation", "kind"),
    [
        (_add_optional_field, "new optional field"),
        (_widen_enum, "enum widened"),
        (_reword_descriptions, None),
        (_loosen_constraint, "constraint loosened"),
        (_make_field_optional, "field made optional"),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_an_additive_change_keeps_the_version(
    published_v1: Schema, mutation: Mutation, kind: str | None
) -> None:
    changed = copy.deepcopy(published_v1)
    mutation(changed)
    changes = compare({V1: published_v1}, {V1: changed})
    assert breaking_changes(changes) == []
    assert [change.kind for change in changes] == ([kind] if kind else [])


def test_a_new_event_type_keeps_every_other_version(published_v1: Schema) -> None:
    changes = compare({V1: published_v1}, {V1: published_v1, "insats.x.new.v1": {}})
    assert changes == [Change("insats.x.new.v1", "", "new event type", breaking=False)]


def test_an_unchanged_schema_has_no_changes(published_v1: Schema) -> None:
    assert compare({V1: published_v1}, {V1: copy.deepcopy(published_v1)}) == []


# --- from a model change to a failing check, before anyone regenerates ------------------------


class _RejectionWithoutSwedish(EventData):
    """ReferralRejected as a developer might carelessly change it: message_sv gone."""

    TYPE = V1
    TOPIC = topics.INTAKE_EVENTS

    referral_id: Identifier
    programme_id: Identifier | None = None
    municipality: Kommunkod | None = None
    reason: RejectionReason
    rule: str | None = None
    message: str
    received_at: datetime

    def subject(self) -> str:
        return self.referral_id


class _RejectionWithAnOptionalField(EventData):
    """ReferralRejected with one more optional field: additive."""

    TYPE = V1
    TOPIC = topics.INTAKE_EVENTS

    referral_id: Identifier = Field(description="Reworded.")
    programme_id: Identifier | None = None
    municipality: Kommunkod | None = None
    reason: RejectionReason
    rule: str | None = None
    message: str
    message_sv: str
    received_at: datetime
    caseworker_role: str | None = None

    def subject(self) -> str:
        return self.referral_id


def _as_published(model: type[EventData]) -> dict[str, Schema]:
    """The committed schemas, with `model`'s schema in place of the one with its type name.
    Model titles differ from ReferralRejected's, so the definitions are renamed to match."""
    schema = event_schema(model)
    definitions = schema["$defs"]
    definitions["ReferralRejected"] = definitions.pop(model.__name__)
    schema["properties"]["data"]["$ref"] = "#/$defs/ReferralRejected"
    return {**load_schemas(CONTRACT_DIR), model.TYPE: schema}


def test_a_model_change_that_breaks_v1_fails_against_the_committed_schema() -> None:
    changes = compare(load_schemas(CONTRACT_DIR), _as_published(_RejectionWithoutSwedish))
    assert [(change.path, change.kind) for change in breaking_changes(changes)] == [
        ("data.message_sv", "field removed")
    ]


def test_a_model_change_that_only_adds_passes_against_the_committed_schema() -> None:
    changes = compare(load_schemas(CONTRACT_DIR), _as_published(_RejectionWithAnOptionalField))
    assert breaking_changes(changes) == []
    assert [(change.path, change.kind) for change in changes] == [
        ("data.caseworker_role", "new optional field")
    ]


# --- the commands a developer and CI run ------------------------------------------------------


@pytest.fixture
def committed_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of docs/contract the commands work on, so the real one is never touched."""
    folder = tmp_path / "contract"
    shutil.copytree(CONTRACT_DIR, folder)
    monkeypatch.setattr(published, "CONTRACT_DIR", folder)
    return folder


@pytest.fixture(scope="module")
def current() -> Contract:
    return build()


def _with_v1_broken(contract: Contract) -> Contract:
    schemas = copy.deepcopy(contract.schemas)
    _remove_field(schemas[V1])
    return Contract(schemas=schemas, documents=contract.documents, openapi=contract.openapi)


def test_generate_refuses_to_overwrite_a_published_version_with_a_breaking_change(
    committed_copy: Path, current: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(published, "build", lambda: _with_v1_broken(current))
    before = (committed_copy / "schemas" / f"{V1}.json").read_text(encoding="utf-8")
    result = CliRunner().invoke(contract_app, ["generate"])
    assert result.exit_code == 1
    assert "BREAKING" in result.output
    assert "data.message_sv: field removed" in result.output
    assert (committed_copy / "schemas" / f"{V1}.json").read_text(encoding="utf-8") == before


def test_check_fails_on_a_breaking_change_and_says_what_to_do(
    committed_copy: Path, current: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(published, "build", lambda: _with_v1_broken(current))
    result = CliRunner().invoke(contract_app, ["check"])
    assert result.exit_code == 1
    assert "breaking change(s) to published versions" in result.output
    assert "insats contract generate" in result.output  # the files are stale as well


def test_check_passes_on_an_up_to_date_contract_and_fails_once_a_file_is_edited(
    committed_copy: Path, current: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    published.write(current.files(), committed_copy)
    monkeypatch.setattr(published, "build", lambda: current)
    passed = CliRunner().invoke(contract_app, ["check"])
    assert passed.exit_code == 0, passed.output
    assert "contract compatible and up to date" in passed.output
    index = committed_copy / "index.json"
    index.write_text(index.read_text(encoding="utf-8").replace("intake", "intaek"), "utf-8")
    result = CliRunner().invoke(contract_app, ["check"])
    assert result.exit_code == 1
    assert "out of date: index.json" in result.output


def test_generate_with_allow_breaking_writes_and_removes_what_is_no_longer_generated(
    committed_copy: Path, current: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    retired: dict[str, Any] = {
        name: schema for name, schema in current.schemas.items() if name != V1
    }
    monkeypatch.setattr(
        published,
        "build",
        lambda: Contract(schemas=retired, documents=current.documents, openapi=current.openapi),
    )
    refused = CliRunner().invoke(contract_app, ["generate"])
    assert refused.exit_code == 1
    assert "event type removed" in refused.output
    result = CliRunner().invoke(contract_app, ["generate", "--allow-breaking"])
    assert result.exit_code == 0, result.output
    assert not (committed_copy / "schemas" / f"{V1}.json").exists()


def _git(folder: Path, *args: str, given: str | None = None) -> str:
    result = subprocess.run(
        ["git", "-C", str(folder), *args],
        input=given,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _tree(folder: Path, entries: dict[str, tuple[str, str]]) -> str:
    """A git tree object of (mode, type, hash) entries, without a commit."""
    listing = "".join(
        f"{mode} {'blob' if mode == '100644' else 'tree'} {digest}\t{name}\n"
        for name, (mode, digest) in entries.items()
    )
    return _git(folder, "mktree", given=listing)


def test_check_against_a_git_ref_takes_that_refs_schemas_as_the_baseline(
    tmp_path: Path, published_v1: Schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = tmp_path / "repository"
    repository.mkdir()
    _git(repository, "init", "--quiet")
    blob = _git(repository, "hash-object", "-w", "--stdin", given=json.dumps(published_v1))
    schemas = _tree(repository, {f"{V1}.json": ("100644", blob)})
    contract = _tree(repository, {"schemas": ("040000", schemas)})
    docs = _tree(repository, {"contract": ("040000", contract)})
    root = _tree(repository, {"docs": ("040000", docs)})
    monkeypatch.setattr(published, "ROOT", repository)
    monkeypatch.setattr(published, "CONTRACT_DIR", repository / "docs" / "contract")

    assert published.load_schemas_at(root) == {V1: published_v1}
    broken = copy.deepcopy(published_v1)
    _remove_field(broken)
    monkeypatch.setattr(
        published, "build", lambda: Contract(schemas={V1: broken}, documents={}, openapi={})
    )
    result = CliRunner().invoke(contract_app, ["check", "--against", root])
    assert result.exit_code == 1
    assert "data.message_sv: field removed" in result.output
