"""Versioning, worked through on the rejected referral: v2 replaces message/message_sv with
messages {sv, en}. It is a new type beside v1, registered and parsed like any other, translated
from v1 without loss, and identified apart from it so consumers deduplicating on ids keep both."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from scripts.contract.compatibility import breaking_changes, compare
from scripts.contract.schemas import event_schema
from shared.contracts import topics
from shared.contracts.envelope import new_event
from shared.contracts.intake import (
    ReferralRejected,
    ReferralRejectedV2,
    RejectionMessages,
    referral_rejected_v2,
)
from shared.contracts.registry import EVENT_TYPES, encode_event, parse_event
from shared.contracts.vocabulary import RejectionReason
from tests.unit.factories import referral


def _v1(**changes: object) -> ReferralRejected:
    values: dict[str, object] = {
        "referral_id": "1380-7",
        "programme_id": "halmstad-150",
        "municipality": "1380",
        "reason": RejectionReason.INCOME_SUPPORT_REQUIRED,
        "rule": "eligibility.income_support",
        "message": "The programme requires income support.",
        "message_sv": "Programmet kräver försörjningsstöd.",
        "received_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    }
    values.update(changes)
    return ReferralRejected.model_validate(values)


def test_v2_carries_every_fact_of_v1_with_the_texts_keyed_by_language() -> None:
    v1 = _v1()
    v2 = referral_rejected_v2(v1)
    assert v2 == ReferralRejectedV2(
        referral_id="1380-7",
        programme_id="halmstad-150",
        municipality="1380",
        reason=RejectionReason.INCOME_SUPPORT_REQUIRED,
        rule="eligibility.income_support",
        messages=RejectionMessages(
            sv="Programmet kräver försörjningsstöd.", en="The programme requires income support."
        ),
        received_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    )
    assert v2.subject() == v1.subject()


def test_an_unreadable_referral_translates_too() -> None:
    v1 = _v1(
        referral_id="insats.municipal.referrals:0:17",
        programme_id=None,
        municipality=None,
        rule=None,
        reason=RejectionReason.INVALID_JSON,
    )
    v2 = referral_rejected_v2(v1)
    assert (v2.referral_id, v2.programme_id, v2.municipality, v2.rule) == (
        "insats.municipal.referrals:0:17",
        None,
        None,
        None,
    )
    assert v2.reason is RejectionReason.INVALID_JSON


def test_both_versions_are_registered_on_intakes_topic() -> None:
    assert EVENT_TYPES["insats.referral.rejected.v1"] is ReferralRejected
    assert EVENT_TYPES["insats.referral.rejected.v2"] is ReferralRejectedV2
    assert ReferralRejected.TOPIC == ReferralRejectedV2.TOPIC == topics.INTAKE_EVENTS


def test_a_v2_record_parses_as_v2_and_a_v1_record_as_v1() -> None:
    cause = new_event(referral(), source="urn:kommun:1380", municipality="1380")
    v1 = new_event(_v1(), source="/insats/intake", municipality="1380", cause=cause)
    v2 = new_event(
        referral_rejected_v2(v1.data), source="/insats/intake", municipality="1380", cause=cause
    )
    parsed_v1, parsed_v2 = parse_event(encode_event(v1)), parse_event(encode_event(v2))
    assert (parsed_v1.type, parsed_v2.type) == (ReferralRejected.TYPE, ReferralRejectedV2.TYPE)
    assert parsed_v2 == v2
    assert isinstance(parsed_v1.data, ReferralRejected)


def test_twins_from_one_cause_share_subject_and_causation_but_not_id() -> None:
    cause = new_event(referral(), source="urn:kommun:1380", municipality="1380")
    v1 = new_event(_v1(), source="/insats/intake", municipality="1380", cause=cause)
    v2 = new_event(
        referral_rejected_v2(v1.data), source="/insats/intake", municipality="1380", cause=cause
    )
    # Different ids: a consumer deduplicating on id must not drop one version for the other.
    assert v1.id != v2.id
    assert (v1.subject, v1.causationid, v1.correlationid) == (
        v2.subject,
        v2.causationid,
        v2.correlationid,
    )
    again = new_event(
        referral_rejected_v2(v1.data), source="/insats/intake", municipality="1380", cause=cause
    )
    assert again.id == v2.id  # re-handling the same referral yields the same v2


def test_the_versions_do_not_read_each_other() -> None:
    v1_document = json.loads(_v1().model_dump_json())
    with pytest.raises(ValidationError, match="messages"):
        ReferralRejectedV2.model_validate(v1_document)
    v2_document = json.loads(referral_rejected_v2(_v1()).model_dump_json())
    with pytest.raises(ValidationError, match="message_sv"):
        ReferralRejected.model_validate(v2_document)


def test_changing_v1_into_v2_in_place_would_be_breaking() -> None:
    """Why v2 is a new type: the compatibility check refuses it as a change to v1."""
    v1_schema = event_schema(ReferralRejected)
    v2_schema = event_schema(ReferralRejectedV2)
    v2_schema["properties"]["type"]["const"] = ReferralRejected.TYPE
    v2_schema["$defs"]["ReferralRejected"] = v2_schema["$defs"].pop("ReferralRejectedV2")
    v2_schema["properties"]["data"]["$ref"] = "#/$defs/ReferralRejected"
    found = {
        (change.path, change.kind)
        for change in breaking_changes(
            compare({ReferralRejected.TYPE: v1_schema}, {ReferralRejected.TYPE: v2_schema})
        )
    }
    assert found == {
        ("data.message", "field removed"),
        ("data.message_sv", "field removed"),
        ("data.messages", "field newly required"),
    }
