"""The committed contract (docs/contract) is exactly what the code generates, and says what the
records on the wire are: CI fails when a developer changed the code and not the documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import pytest
from jsonschema import Draft202012Validator

from scripts.contract.compatibility import breaking_changes, compare
from scripts.contract.published import (
    CONTRACT_DIR,
    REGENERATE,
    ROOT,
    Contract,
    build,
    differences,
    generated_on_disk,
    load_schemas,
    write,
)
from shared.contracts import topics
from shared.contracts.envelope import Envelope, EventData, new_event
from shared.contracts.intake import ReferralRejected, referral_rejected_v2
from shared.contracts.placement import PlacementStarted
from shared.contracts.registry import EVENT_TYPES, encode_event
from shared.contracts.vocabulary import ActivityType, RejectionReason
from shared.services import SERVICES
from tests.unit.factories import programme, referral


@pytest.fixture(scope="module")
def contract() -> Contract:
    return build()


def _rejection() -> ReferralRejected:
    return ReferralRejected(
        referral_id="1380-7",
        programme_id="halmstad-150",
        municipality="1380",
        reason=RejectionReason.AGE_OUT_OF_RANGE,
        rule="eligibility.age",
        message="Age 76 is outside 18-64.",
        message_sv="Åldern 76 är utanför 18-64.",
        received_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    )


def _placement() -> PlacementStarted:
    return PlacementStarted(
        placement_id="pl-1",
        participant_id="p-1",
        programme_id="halmstad-150",
        partner_id="erikshjalpen",
        agreement_id="a-1",
        activity=ActivityType.ARBETSTRANING,
        municipality="1380",
        start_date=date(2026, 3, 9),
        waited_days=7,
        decision="first in line",
    )


def _samples() -> list[EventData]:
    rejected = _rejection()
    return [referral(), programme(), rejected, referral_rejected_v2(rejected), _placement()]


def test_the_committed_contract_is_what_the_code_generates(
    contract: Contract, tmp_path: Path
) -> None:
    write(contract.files(), tmp_path)
    stale = differences(generated_on_disk(tmp_path), CONTRACT_DIR)
    assert not stale, (
        "docs/contract does not match the code:\n  "
        + "\n  ".join(stale)
        + f"\nRun `{REGENERATE}` (or `make contracts`) and commit docs/contract."
    )


def test_no_published_version_changed_incompatibly(contract: Contract) -> None:
    broken = breaking_changes(compare(load_schemas(CONTRACT_DIR), contract.schemas))
    assert not broken, (
        "these changes break event versions that are already published:\n  "
        + "\n  ".join(str(change) for change in broken)
        + "\nKeep the old version as it is and publish a new one beside it "
        "(docs/contract/README.md, 'Versioning')."
    )


def test_generation_ignores_the_environment_and_the_hash_seed(tmp_path: Path) -> None:
    outputs = []
    for seed, environment in (
        ("1", {}),
        ("2", {"INSATS_TOPIC_PREFIX": "staging.", "INSATS_KAFKA_BOOTSTRAP_SERVERS": "kafka:9093"}),
    ):
        out = tmp_path / f"run-{seed}"
        # --allow-breaking: this test is about determinism; compatibility has tests of its own.
        command = ["contract", "generate", "--allow-breaking", "--out", str(out)]
        result = subprocess.run(
            [sys.executable, "-m", "scripts", *command],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed, **environment},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(generated_on_disk(out))
    assert outputs[0]
    assert outputs[0] == outputs[1]


def test_every_event_type_has_a_schema_that_is_valid_json_schema(contract: Contract) -> None:
    assert sorted(contract.schemas) == sorted(EVENT_TYPES)
    for schema in contract.schemas.values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("data", _samples(), ids=lambda data: data.TYPE)
def test_records_as_producers_encode_them_match_their_committed_schema(data: EventData) -> None:
    envelope = new_event(data, source="urn:kommun:1380", municipality="1380")
    record = json.loads(encode_event(envelope))
    schema = load_schemas(CONTRACT_DIR)[data.TYPE]
    errors = [error.message for error in Draft202012Validator(schema).iter_errors(record)]
    assert errors == []
    index = json.loads((CONTRACT_DIR / "index.json").read_text(encoding="utf-8"))
    subject_field = index["events"][data.TYPE]["subject"].removeprefix("data.")
    assert record["subject"] == record["data"][subject_field]


def test_a_schema_tells_one_version_from_another() -> None:
    v1 = new_event(_rejection(), source="/insats/intake", municipality="1380")
    v2_schema = load_schemas(CONTRACT_DIR)["insats.referral.rejected.v2"]
    errors = list(Draft202012Validator(v2_schema).iter_errors(json.loads(encode_event(v1))))
    paths = {"/".join(str(part) for part in error.absolute_path) for error in errors}
    assert {"type", "data"} <= paths


def _asyncapi(service: str) -> dict[str, Any]:
    text = (CONTRACT_DIR / "asyncapi" / f"{service}.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.mark.parametrize("service", SERVICES)
def test_every_message_documents_its_key_and_headers_and_every_channel_its_topic(
    service: str,
) -> None:
    document = _asyncapi(service)
    for name, channel in document["channels"].items():
        assert channel["bindings"]["kafka"]["topic"] == channel["address"], name
    for name, message in document["components"]["messages"].items():
        assert message["bindings"]["kafka"]["key"]["type"], name
        assert message["headers"]["type"] == "object", name
        if name.endswith(":DeadLetter"):
            assert "insats-dlq-code" in message["headers"]["required"]
            continue
        assert {"content-type", "ce_id", "ce_type"} <= set(message["headers"]["properties"])
        assert message["correlationId"]["location"] == "$message.payload#/correlationid"


@pytest.mark.parametrize("service", SERVICES)
def test_a_subscriber_receives_one_envelope_per_record_not_a_batch(service: str) -> None:
    document = _asyncapi(service)
    schemas = document["components"]["schemas"]
    for name, message in document["components"]["messages"].items():
        reference = message["payload"].get("$ref")
        if reference is None:
            continue
        payload = schemas[unquote(reference.removeprefix("#/components/schemas/"))]
        assert payload.get("type") != "array", name


def test_the_intake_document_shows_what_intake_publishes_on_its_topic() -> None:
    document = _asyncapi("intake")
    sent = [
        # A JSON pointer in a URI fragment percent-encodes the braces of templated channels.
        document["channels"][unquote(operation["channel"]["$ref"].removeprefix("#/channels/"))][
            "address"
        ]
        for operation in document["operations"].values()
        if operation["action"] == "send"
    ]
    assert topics.INTAKE_EVENTS in sent
    assert topics.dead_letter_topic("intake") in sent


def test_envelope_schemas_in_the_asyncapi_documents_name_their_type() -> None:
    schemas = _asyncapi("placement")["components"]["schemas"]
    envelope: type[Any] = cast(Any, Envelope)[PlacementStarted]
    assert envelope.__name__ == "PlacementStartedEvent"
    assert schemas["PlacementStartedEvent"]["properties"]["type"]["const"] == PlacementStarted.TYPE
    assert not [name for name in schemas if name.startswith("Envelope_")]
