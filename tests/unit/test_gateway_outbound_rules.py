"""The outbound side's rules without I/O: whose stream a topic is, what of it becomes a feed
entry, where a webhook may point, how long a failing one waits, and when it is disabled."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.feed_records import StreamRecord, read_record
from services.gateway.feed_topics import stream_pattern, tenant_of_stream
from services.gateway.webhook_deliverer import backoff_seconds, disable_reason
from services.gateway.webhook_urls import UrlNotAllowed, address_allowed, checked_url
from shared.contracts.tenants import Tenant

HALMSTAD = Tenant.municipality("1380")
ENVELOPE = {
    "specversion": "1.0",
    "id": "6b1c0f9e-2f55-5d6e-9a51-0a3f1f3e7c21",
    "type": "insats.resident-event.v1",
    "source": "/insats/intake",
    "time": "2026-03-09T08:00:00+00:00",
    "subject": "p-4f0c2a9d1e",
    "municipality": "1380",
    "datacontenttype": "application/json",
    "data": {"source_type": "insats.participant.enrolled.v1"},
    "someextension": "kept",
}


@pytest.mark.parametrize(
    ("topic", "tenant"),
    [
        ("t1.insats.municipality.1380.events", Tenant.municipality("1380")),
        ("t1.insats.partner.hotellet.placements", Tenant.partner("hotellet")),
        ("t1.insats.owner.kalmar-lan.events", Tenant.owner("kalmar-lan")),
        ("t1.insats.partner.hotellet.placement-reports", None),
        ("t1.insats.municipality.1380.referrals", None),
        ("t1.insats.partner.hotellet.events", None),
        ("t1.insats.municipality.138.events", None),
        ("t1.insats.placement.events", None),
        ("t2.insats.municipality.1380.events", None),
        ("insats.municipality.1380.events", None),
    ],
)
def test_a_stream_is_known_by_its_topic_alone(topic: str, tenant: Tenant | None) -> None:
    assert tenant_of_stream(topic, "t1.") == tenant
    # The subscription takes exactly what has a tenant (and, loosely, longer ids it refuses).
    assert (re.match(stream_pattern("t1."), topic) is not None) == (tenant is not None)


def test_an_envelope_is_filed_byte_for_byte_with_its_id_and_type() -> None:
    value = json.dumps(ENVELOPE, ensure_ascii=False).encode()

    record = read_record(HALMSTAD, "t.insats.municipality.1380.events", 2, 41, value)

    assert isinstance(record, StreamRecord)
    assert record.value.encode() == value
    assert (str(record.event_id), record.event_type) == (ENVELOPE["id"], ENVELOPE["type"])
    assert record.origin == "t.insats.municipality.1380.events:2:41"


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        json.dumps({**ENVELOPE, "id": "not-a-uuid"}).encode(),
        json.dumps({**ENVELOPE, "time": "2026-03-09T08:00:00"}).encode(),
        json.dumps({**ENVELOPE, "data": "text"}).encode(),
        json.dumps({k: v for k, v in ENVELOPE.items() if k != "type"}).encode(),
    ],
)
def test_what_is_not_an_event_envelope_is_skipped_with_a_reason(value: bytes | None) -> None:
    assert isinstance(read_record(HALMSTAD, "topic", 0, 0, value), str)


@pytest.mark.parametrize(
    "url",
    [
        "https://case-system.example.se/insats/webhook?k=1",
        "https://93.184.216.34:8443/hook",
        "https://[2606:4700::1111]/hook",
    ],
)
def test_https_to_a_public_host_may_be_a_webhook(url: str) -> None:
    assert checked_url(url, allow_loopback=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://case-system.example.se/insats",
        "ftp://case-system.example.se/insats",
        "https://user:pw@case-system.example.se/insats",
        "https://case-system.example.se/insats#part",
        "https:///no-host",
        "https://localhost/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.1/hook",
        "https://0.0.0.0/hook",
        "https://example.se:99999/hook",
        "https://[::1/hook",
        "https://exämple.se/hook",
        "https://example.se/" + "a" * 2_000,
    ],
)
def test_anything_else_is_refused_as_a_webhook(url: str) -> None:
    with pytest.raises(UrlNotAllowed):
        checked_url(url, allow_loopback=False)


def test_loopback_over_http_only_where_the_setting_allows_it() -> None:
    url = "http://127.0.0.1:8123/hook"

    assert checked_url(url, allow_loopback=True) == url
    assert checked_url("http://localhost:8123/hook", allow_loopback=True)
    with pytest.raises(UrlNotAllowed):
        checked_url("http://10.0.0.5/hook", allow_loopback=True)
    assert address_allowed(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert not address_allowed(ipaddress.ip_address("10.1.2.3"), allow_loopback=True)
    assert not address_allowed(ipaddress.ip_address("224.0.0.1"), allow_loopback=False)


def test_a_failing_webhook_waits_one_second_doubling_to_five_minutes() -> None:
    waits = [backoff_seconds(attempt, 1.0, 300.0) for attempt in range(1, 12)]

    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff_seconds(10_000, 1.0, 300.0) == 300


# The clock the disabling rule is given: the failure run starts at FAILING_SINCE.
FAILING_SINCE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
THREE_DAYS = timedelta(hours=72)


def _reason(failing_for: timedelta, failures: int) -> str | None:
    now = FAILING_SINCE + failing_for
    return disable_reason(FAILING_SINCE, failures, now, after=THREE_DAYS, min_failures=50)


def test_a_webhook_failing_for_three_days_with_fifty_attempts_in_a_row_is_disabled() -> None:
    reason = _reason(THREE_DAYS, 50)

    assert reason == "failed 50 attempts in a row since 2026-03-02T09:30:00Z"
    assert _reason(THREE_DAYS + timedelta(days=4), 900) is not None


def test_a_webhook_failing_for_less_than_three_days_is_still_tried_however_often() -> None:
    assert _reason(THREE_DAYS - timedelta(seconds=1), 10_000) is None


def test_a_gateway_that_was_itself_down_for_days_does_not_disable_on_its_first_attempts() -> None:
    # Failing since before the outage: on its return, a handful of attempts is not enough.
    assert _reason(timedelta(days=5), 2) is None
    assert _reason(timedelta(days=5), 49) is None
    assert _reason(timedelta(days=5), 50) is not None


def test_with_the_default_backoff_fifty_attempts_come_within_hours_not_days() -> None:
    waits = sum(backoff_seconds(attempt, 1.0, 300.0) for attempt in range(1, 50))

    assert timedelta(seconds=waits) < timedelta(hours=4)
