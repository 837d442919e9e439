"""Outbound without Kafka on the real stack: each organisation reads its own stream from the
gateway's feed, or has it POSTed to a webhook, with real Keycloak tokens, the gateway (and, for
the feed, the three services) as processes on the real broker and database. Nothing of another
organisation's ever shows; a record delivered twice is one entry; a failing receiver gets the
same event again, signed, until it takes it, and then the next one once."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from scripts.harness import Platform
from scripts.stack.identity import IdentityProvider
from services.gateway.webhook_signature import verify
from services.intake.personnummer import format_with_check
from shared.contracts.envelope import new_event
from shared.contracts.municipal import ConsentRecorded, PartnerRegistered
from shared.contracts.partner import PlacementChangeReported
from shared.contracts.registry import encode_event
from shared.contracts.scoped import ResidentEvent
from shared.contracts.tenants import Tenant
from shared.contracts.vocabulary import ConsentPurpose, PartnerKind, PlacementAction
from shared.luhn import organisationsnummer
from shared.messaging.kafka import client_kwargs, ensure_topics
from shared.settings import Settings
from tests.gateway_support import HttpTenant, gateway_running, http_tenants
from tests.unit.factories import agreement, programme, referral
from tests.webhook_support import receiving

HALMSTAD, KUNGSBACKA = Tenant.municipality("1380"), Tenant.municipality("1384")
HOTEL, SHOP = Tenant.partner("hotellet"), Tenant.partner("butiken")
RESIDENT = format_with_check(date(1988, 4, 12), 310)
# Short waits, so a receiver's failures and the retries after them take a second, not minutes.
BACKOFF_INITIAL = 0.4
OUTBOUND_ENV = {
    "INSATS_GATEWAY_WEBHOOK_ALLOW_LOOPBACK": "true",
    "INSATS_GATEWAY_WEBHOOK_BACKOFF_INITIAL_SECONDS": str(BACKOFF_INITIAL),
    "INSATS_GATEWAY_WEBHOOK_BACKOFF_MAX_SECONDS": "2",
    "INSATS_GATEWAY_WEBHOOK_POLL_SECONDS": "0.1",
    "INSATS_GATEWAY_WEBHOOK_TIMEOUT_SECONDS": "5",
    "INSATS_GATEWAY_WEBHOOK_LEASE_SECONDS": "15",
    "INSATS_GATEWAY_WEBHOOKS_PER_TENANT": "2",
}
T = TypeVar("T")


@dataclass
class Gateway:
    url: str
    tenants: dict[Tenant, HttpTenant]


@pytest.fixture
async def gateway(
    env: dict[str, str], settings: Settings, identity_provider: IdentityProvider, tmp_path: Path
) -> AsyncIterator[Gateway]:
    async with (
        gateway_running(
            {**env, **OUTBOUND_ENV}, identity_provider.issuer, tmp_path / "gateway.log"
        ) as url,
        http_tenants(identity_provider, url, HALMSTAD, KUNGSBACKA, HOTEL, SHOP) as tenants,
    ):
        yield Gateway(url, tenants)


async def _eventually(
    check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 60.0
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.2)


async def _feed(who: HttpTenant, after: int = 0, limit: int = 500) -> dict[str, Any]:
    response = await who.http.get(
        "/v1/feed", params={"after": after, "limit": limit}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _events(who: HttpTenant) -> list[dict[str, Any]]:
    return [entry["event"] for entry in (await _feed(who))["entries"]]


def _sees(who: HttpTenant, wanted: Callable[[dict[str, Any]], bool], what: str) -> Any:
    async def check() -> dict[str, Any] | None:
        return next((e for e in await _events(who) if wanted(e)), None)

    return _eventually(check, f"{who.tenant.key} never saw {what}")


def _names(event: dict[str, Any], needle: str) -> bool:
    return needle in json.dumps(event)


async def _refer_and_offer(tenants: dict[Tenant, HttpTenant]) -> None:
    """Halmstad's programme, the hotel and its agreement; Halmstad's resident referred, whom
    placement offers a place at the hotel."""
    halmstad = tenants[HALMSTAD]
    for body in (
        ("/programmes", programme(programme_id="halmstad-150")),
        (
            "/partners",
            PartnerRegistered(
                partner_id="hotellet",
                organisationsnummer=organisationsnummer("802011111"),
                name="Hotellet AB",
                kind=PartnerKind.SOCIAL_CLAUSE_EMPLOYER,
                municipality="1380",
            ),
        ),
        (
            "/agreements",
            agreement(agreement_id="hotel-1", partner_id="hotellet", programme_id="halmstad-150"),
        ),
        (
            "/referrals",
            referral(referral_id="1380-1", personnummer=RESIDENT, programme_id="halmstad-150"),
        ),
    ):
        status = await halmstad.ended(await halmstad.send(*body))
        assert status["status"] == "applied", status


async def test_each_organisation_pages_through_its_own_stream_and_sees_nothing_of_anothers(
    platform: Platform, gateway: Gateway
) -> None:
    tenants = gateway.tenants
    halmstad, kungsbacka, hotel, shop = (tenants[t] for t in (HALMSTAD, KUNGSBACKA, HOTEL, SHOP))
    await _refer_and_offer(tenants)
    # Kungsbacka records a consent for a resident it does not have; the shop reports on a
    # placement that is not its own: each is answered on its own stream.
    refused_consent = await kungsbacka.send(
        "/consents",
        ConsentRecorded(
            request_id="k-consent-1",
            personnummer=RESIDENT,
            municipality="1384",
            purpose=ConsentPurpose.SHARE_WITH_PARTNER,
            granted=True,
            source="Kungsbacka",
            recorded_on=date(2026, 3, 10),
        ),
    )
    assert (await kungsbacka.ended(refused_consent))["status"] == "rejected"

    enrolled = await _sees(
        halmstad,
        lambda e: (
            e["type"] == "insats.resident-event.v1"
            and e["data"]["source_type"] == "insats.participant.enrolled.v1"
        ),
        "its resident enrolled",
    )
    offer = await _sees(
        hotel,
        lambda e: e["type"] == "insats.partner-placement.updated.v1",
        "its placement offer",
    )
    placement_id = offer["data"]["placement_id"]
    refused_report = await shop.send(
        "/placement-reports/changes",
        PlacementChangeReported(
            placement_id=placement_id, action=PlacementAction.ACCEPT, on=date(2026, 3, 20)
        ),
    )
    assert (await shop.ended(refused_report))["reason"] == "UNKNOWN_PLACEMENT"
    kungsbackas_answer = await _sees(
        kungsbacka, lambda e: _names(e, refused_consent), "the answer to its consent"
    )
    shops_answer = await _sees(shop, lambda e: _names(e, refused_report), "its report refused")

    # Every entry is its own organisation's, and another's never shows.
    halmstads = await _events(halmstad)
    assert all(e.get("municipality") in {None, "1380"} for e in halmstads)
    assert not any(_names(e, refused_consent) for e in halmstads)
    assert not any(e["id"] == enrolled["id"] for e in await _events(kungsbacka))
    assert all(e["municipality"] != "1380" for e in await _events(kungsbacka))
    assert kungsbackas_answer["type"] == "insats.input.rejected.v1"
    # The shop's stream holds the answer to its own report (which names the placement it
    # reported on), never the hotel's placement itself.
    shops = await _events(shop)
    assert [(e["type"], e["data"]["tenant"]) for e in shops] == [
        ("insats.input.rejected.v1", "partner:butiken")
    ]
    assert not any(e["id"] == offer["id"] for e in shops)
    assert not any(_names(e, refused_report) for e in await _events(hotel))
    assert shops_answer["type"] == "insats.input.rejected.v1"

    # Paging one by one gives the same entries, numbered 1, 2, 3, ..., as one page of all.
    whole = await _feed(halmstad)
    paged, after, mores = [], 0, []
    while True:
        page = await _feed(halmstad, after=after, limit=1)
        if not page["entries"]:
            assert page == {"entries": [], "next": after, "more": False}
            break
        paged.extend(page["entries"])
        mores.append(page["more"])
        after = page["next"]
        assert after == page["entries"][-1]["seq"]
    assert len(paged) >= 2, paged
    assert paged == whole["entries"]
    assert [entry["seq"] for entry in paged] == list(range(1, len(paged) + 1))
    assert mores == [True] * (len(paged) - 1) + [False]
    assert len({entry["event"]["id"] for entry in paged}) == len(paged)
    assert (await _feed(halmstad, after=2, limit=2))["entries"] == whole["entries"][2:4]


async def test_a_redelivered_record_is_one_entry_and_a_record_that_is_no_event_is_skipped(
    gateway: Gateway, settings: Settings
) -> None:
    halmstad = gateway.tenants[HALMSTAD]
    topic = settings.topic(HALMSTAD.answers_topic())
    await ensure_topics(settings, {topic: {}})
    first, second, third = (_resident_event(f"p-{n}") for n in (1, 2, 3))

    async with _producer(settings) as send:
        await send(topic, first)
        await send(topic, b"not an event")
        await send(topic, b'{"specversion": "1.0", "id": "no uuid"}')
        await send(topic, first)  # a producer's retry, byte for byte, within one batch
        await send(topic, second)
        await _sees(halmstad, lambda e: e["id"] == _id_of(second), "the event after the junk")
        await send(topic, first)  # and long after, as after a consumer's restart
        await send(topic, third)
    await _sees(halmstad, lambda e: e["id"] == _id_of(third), "the event after the redelivery")

    entries = (await _feed(halmstad))["entries"]
    assert [entry["event"]["id"] for entry in entries] == [
        _id_of(e) for e in (first, second, third)
    ]
    assert [entry["seq"] for entry in entries] == [1, 2, 3]
    # What the feed shows is the envelope as published.
    assert entries[0]["event"] == json.loads(first)
    ready = await halmstad.http.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["feed"] is True


async def test_a_webhook_gets_each_event_signed_retried_until_taken_then_the_next_once(
    gateway: Gateway, settings: Settings
) -> None:
    halmstad, kungsbacka = gateway.tenants[HALMSTAD], gateway.tenants[KUNGSBACKA]
    topic = settings.topic(HALMSTAD.answers_topic())
    await ensure_topics(settings, {topic: {}, settings.topic(KUNGSBACKA.answers_topic()): {}})

    with receiving(failures=2) as receiver:
        registered = await halmstad.http.post(
            "/v1/webhooks", json={"url": f"{receiver.url}/halmstad"}, headers=halmstad.headers
        )
        assert registered.status_code == 201, registered.text
        hook = registered.json()
        theirs = await kungsbacka.http.post(
            "/v1/webhooks", json={"url": f"{receiver.url}/kungsbacka"}, headers=kungsbacka.headers
        )
        assert theirs.status_code == 201, theirs.text
        first, second = _resident_event("p-1"), _resident_event("p-2")

        async with _producer(settings) as send:
            await send(topic, first)
            await _eventually(lambda: receiver.taken(1), "the first event never taken")
            await send(topic, second)
        await _eventually(lambda: receiver.taken(2), "the second event never taken")
        await asyncio.sleep(1.5)  # anything sent twice would arrive in this time

    deliveries = receiver.deliveries
    assert [(d.path, d.event_id, d.attempt) for d in deliveries] == [
        ("/halmstad", _id_of(first), 1),
        ("/halmstad", _id_of(first), 2),
        ("/halmstad", _id_of(first), 3),
        ("/halmstad", _id_of(second), 1),
    ]
    assert [d.status for d in deliveries] == [500, 500, 200, 200]
    for delivery, body in zip(deliveries, (first, first, first, second), strict=True):
        assert delivery.body == body
        assert delivery.content_type == "application/json"
        assert verify(hook["secret"], delivery.signature, delivery.body, now=int(time.time()))
        assert not verify(
            theirs.json()["secret"], delivery.signature, delivery.body, int(time.time())
        )
    # The waits between attempts double: 0.4 s, then 0.8 s.
    gaps = [b.at - a.at for a, b in itertools.pairwise(deliveries[:3])]
    assert gaps[0] >= BACKOFF_INITIAL * 0.9
    assert gaps[1] >= 2 * BACKOFF_INITIAL * 0.9

    listed = await halmstad.http.get("/v1/webhooks", headers=halmstad.headers)
    [state] = listed.json()["webhooks"]
    assert state["id"] == hook["id"]
    assert state["delivered_up_to"] == 2
    assert (state["attempts"], state["failing_since"], state["last_error"]) == (0, None, None)
    assert "secret" not in state


async def test_a_webhook_is_its_organisations_own_and_only_a_safe_url_is_one(
    gateway: Gateway,
) -> None:
    halmstad, kungsbacka = gateway.tenants[HALMSTAD], gateway.tenants[KUNGSBACKA]

    async def register(who: HttpTenant, url: str, key: str | None = None) -> httpx.Response:
        headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
        return await who.http.post("/v1/webhooks", json={"url": url}, headers=headers)

    mine = await register(halmstad, "https://case-system.example.se/insats", key="hook-1")
    assert mine.status_code == 201, mine.text
    assert "Idempotent-Replayed" not in mine.headers
    hook_id = mine.json()["id"]
    # Sent again (its answer lost, say): the same webhook and secret, and no second one.
    again = await register(halmstad, "https://case-system.example.se/insats", key="hook-1")
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.json()["id"], again.json()["secret"]) == (hook_id, mine.json()["secret"])
    reused = await register(halmstad, "https://case-system.example.se/other", key="hook-1")
    assert reused.status_code == 409
    assert reused.json()["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert (
        len((await halmstad.http.get("/v1/webhooks", headers=halmstad.headers)).json()["webhooks"])
        == 1
    )

    for url in (
        "http://case-system.example.se/insats",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://user:secret@case-system.example.se/",
        "https://example.se/" + "a" * 2_100,
    ):
        refused = await register(halmstad, url)
        assert refused.status_code == 422, url
        assert refused.json()["reason"] == "SCHEMA_VIOLATION"
    assert (await register(halmstad, "https://case-system.example.se/2")).status_code == 201
    too_many = await register(halmstad, "https://case-system.example.se/3")
    assert too_many.status_code == 409
    assert too_many.json()["reason"] == "LIMIT_REACHED"
    at_limit = await register(halmstad, "https://case-system.example.se/insats", key="hook-1")
    assert at_limit.status_code == 200, "a registration sent again is answered at the limit too"

    # Another organisation neither sees nor deletes it; its own limit is its own.
    theirs = await kungsbacka.http.get("/v1/webhooks", headers=kungsbacka.headers)
    assert theirs.json() == {"webhooks": []}
    stolen = await kungsbacka.http.delete(f"/v1/webhooks/{hook_id}", headers=kungsbacka.headers)
    assert stolen.status_code == 404
    enabled = await kungsbacka.http.post(
        f"/v1/webhooks/{hook_id}/enable", headers=kungsbacka.headers
    )
    assert enabled.status_code == 404
    assert enabled.json()["reason"] == "NOT_FOUND"
    # Enabling one that was never disabled changes nothing.
    own = await halmstad.http.post(f"/v1/webhooks/{hook_id}/enable", headers=halmstad.headers)
    assert own.status_code == 200, own.text
    assert (own.json()["id"], own.json()["disabled_at"], own.json()["disabled_reason"]) == (
        hook_id,
        None,
        None,
    )
    assert "secret" not in own.json()
    replayed_theirs = await register(kungsbacka, "https://case-system.example.se/insats", "hook-1")
    assert replayed_theirs.status_code == 201, "a key is its own organisation's"
    assert replayed_theirs.json()["id"] != hook_id
    assert (await register(kungsbacka, "https://kungsbacka.example.se/hook")).status_code == 201
    assert (
        await halmstad.http.delete(f"/v1/webhooks/{hook_id}", headers=halmstad.headers)
    ).status_code == 204
    left = (await halmstad.http.get("/v1/webhooks", headers=halmstad.headers)).json()["webhooks"]
    assert [w["url"] for w in left] == ["https://case-system.example.se/2"]
    gone = await halmstad.http.delete(f"/v1/webhooks/{hook_id}", headers=halmstad.headers)
    assert gone.status_code == 404
    unauthenticated = await halmstad.http.get("/v1/feed")
    assert unauthenticated.status_code == 401


def _resident_event(participant: str) -> bytes:
    """An event on Halmstad's stream as the services publish one."""
    data = ResidentEvent(
        source_event_id=str(uuid.uuid4()),
        source_type="insats.participant.enrolled.v1",
        occurred_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        municipality="1380",
        subject_id=participant,
        facts={"participant_id": participant, "programme_id": "halmstad-150"},
    )
    return encode_event(new_event(data, source="/insats/intake", municipality="1380"))


def _id_of(value: bytes) -> str:
    found: str = json.loads(value)["id"]
    return found


@asynccontextmanager
async def _producer(
    settings: Settings,
) -> AsyncIterator[Callable[[str, bytes], Awaitable[None]]]:
    """Publishes on a tenant's stream as the services' relay does: keyed, with the headers."""
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()

    async def send(topic: str, value: bytes) -> None:
        try:
            envelope = json.loads(value)
        except ValueError:
            envelope = {}
        subject = envelope.get("subject") if isinstance(envelope, dict) else None
        await producer.send_and_wait(
            topic,
            value,
            key=str(subject or "junk").encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )

    try:
        yield send
    finally:
        await producer.stop()
