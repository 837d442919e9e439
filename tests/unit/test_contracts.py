import json

import pytest

from shared.contracts import EVENT_TYPES, UnreadableEvent, encode_event, new_event, parse_event
from shared.contracts.intake import ParticipantEnrolled
from tests.unit.factories import participant_enrolled, referral


def _enrolled() -> ParticipantEnrolled:
    return participant_enrolled("p-1", referral_id="r-1", programme_id="prog")


def test_an_event_survives_the_round_trip_through_bytes() -> None:
    envelope = new_event(referral(), source="urn:kommun:1380", municipality="1380")
    parsed = parse_event(encode_event(envelope))
    assert parsed == envelope
    assert parsed.subject == "1380-1"


def test_every_type_name_carries_its_version() -> None:
    assert all(
        name.startswith("insats.") and name.rsplit(".", 1)[1].startswith("v")
        for name in EVENT_TYPES
    )


def test_events_caused_by_the_same_input_get_the_same_id() -> None:
    cause = new_event(referral(), source="urn:kommun:1380", municipality="1380")
    first = new_event(_enrolled(), source="/insats/intake", municipality="1380", cause=cause)
    again = new_event(_enrolled(), source="/insats/intake", municipality="1380", cause=cause)
    assert first.id == again.id
    assert first.causationid == str(cause.id)
    assert first.correlationid == cause.correlationid


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "INVALID_JSON"),
        (b"[1, 2]", "INVALID_JSON"),
        (b'{"type": "insats.nothing.v9"}', "UNKNOWN_EVENT_TYPE"),
        (b'{"type": "insats.referral.received.v1", "id": "x"}', "SCHEMA_VIOLATION"),
    ],
)
def test_unreadable_bytes_say_how_they_fail(raw: bytes, code: str) -> None:
    with pytest.raises(UnreadableEvent) as error:
        parse_event(raw)
    assert error.value.code == code


def test_a_schema_violation_names_the_field_but_never_echoes_its_value() -> None:
    document = json.loads(encode_event(new_event(referral(), source="s", municipality="1380")))
    document["data"]["municipality"] = "19900517-2346"
    with pytest.raises(UnreadableEvent) as error:
        parse_event(json.dumps(document).encode())
    assert "data.municipality" in error.value.reason
    assert "19900517" not in error.value.reason


def test_fields_a_consumer_does_not_know_are_ignored() -> None:
    document = json.loads(encode_event(new_event(referral(), source="s", municipality="1380")))
    document["data"]["added_in_a_later_minor_version"] = 1
    document["traceparent"] = "00-abc"
    assert parse_event(json.dumps(document).encode()).data == referral()
