"""A municipality, a programme owner's partner and two partners work through the HTTP gateway
alone: real tokens from the local Keycloak, the gateway and the three services as processes on
the real broker and database. The tenant is the token's, never the body's; every answer is
read back from the request's status."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from scripts.harness import Platform, read_topic, wait_settled
from scripts.stack.identity import IdentityProvider
from services.intake.personnummer import format_with_check
from shared.contracts import topics
from shared.contracts.municipal import ConsentRecorded, PartnerRegistered
from shared.contracts.partner import PlacementChangeReported
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.contracts.vocabulary import ConsentPurpose, PartnerKind, PlacementAction
from shared.luhn import organisationsnummer
from shared.messaging.kafka import client_kwargs
from shared.settings import Settings
from tests.gateway_support import HttpTenant, gateway_running, http_tenants
from tests.support import events_on
from tests.unit.factories import agreement, programme, referral

HALMSTAD, KUNGSBACKA = Tenant.municipality("1380"), Tenant.municipality("1384")
HOTEL, SHOP = Tenant.partner("hotellet"), Tenant.partner("butiken")
RESIDENT = format_with_check(date(1988, 4, 12), 310)
RESIDENT_NAME = "Amira Haddad"


@pytest.fixture
async def gateway(
    env: dict[str, str],
    settings: Settings,
    platform: Platform,
    identity_provider: IdentityProvider,
    tmp_path: Path,
) -> AsyncIterator[dict[Tenant, HttpTenant]]:
    async with (
        gateway_running(env, identity_provider.issuer, tmp_path / "gateway.log") as url,
        http_tenants(identity_provider, url, HALMSTAD, KUNGSBACKA, HOTEL, SHOP) as tenants,
    ):
        yield tenants


def _partner(partner_id: str, municipality: str) -> PartnerRegistered:
    return PartnerRegistered(
        partner_id=partner_id,
        organisationsnummer=organisationsnummer("802011111"),
        name=f"{partner_id} AB",
        kind=PartnerKind.SOCIAL_CLAUSE_EMPLOYER,
        municipality=municipality,
    )


def _consent(request_id: str, municipality: str) -> ConsentRecorded:
    return ConsentRecorded(
        request_id=request_id,
        personnummer=RESIDENT,
        municipality=municipality,
        purpose=ConsentPurpose.SHARE_WITH_PARTNER,
        granted=True,
        source="Kungsbacka",
        recorded_on=date(2026, 3, 10),
    )


async def _records_with_id(settings: Settings, topic: str, event_id: str) -> int:
    return sum(
        1
        for _, value, _ in await read_topic(settings, topic)
        if json.loads(value)["id"] == event_id
    )


async def _set_up(tenants: dict[Tenant, HttpTenant], settings: Settings) -> dict[str, Any]:
    """Each municipality's programme, partner and agreement, and Halmstad's resident referred
    and offered a place at the hotel; the offer."""
    halmstad, kungsbacka = tenants[HALMSTAD], tenants[KUNGSBACKA]
    sent = [
        (halmstad, await halmstad.send("/programmes", programme(programme_id="halmstad-150"))),
        (
            kungsbacka,
            await kungsbacka.send(
                "/programmes",
                programme(programme_id="kungsbacka-iop", municipalities=["1384"], capacity=5),
            ),
        ),
        (halmstad, await halmstad.send("/partners", _partner("hotellet", "1380"))),
        (kungsbacka, await kungsbacka.send("/partners", _partner("butiken", "1384"))),
    ]
    for who, request_id in sent:
        status = await who.ended(request_id)
        assert status["status"] == "applied", status
    sent = [
        (
            halmstad,
            await halmstad.send(
                "/agreements",
                agreement(
                    agreement_id="hotel-1", partner_id="hotellet", programme_id="halmstad-150"
                ),
            ),
        ),
        (
            kungsbacka,
            await kungsbacka.send(
                "/agreements",
                agreement(
                    agreement_id="shop-1", partner_id="butiken", programme_id="kungsbacka-iop"
                ),
            ),
        ),
    ]
    for who, request_id in sent:
        status = await who.ended(request_id)
        assert status["status"] == "applied", status
    referred = await halmstad.send(
        "/referrals",
        referral(
            referral_id="1380-1",
            personnummer=RESIDENT,
            programme_id="halmstad-150",
            name=RESIDENT_NAME,
        ),
    )
    status = await halmstad.ended(referred)
    assert status["status"] == "applied", status
    await wait_settled(settings)
    [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
    found: dict[str, Any] = offer["data"]
    return found


async def test_a_municipality_and_a_partner_work_over_http_and_see_how_each_request_ended(
    gateway: dict[Tenant, HttpTenant], settings: Settings
) -> None:
    offer = await _set_up(gateway, settings)
    assert offer["partner_id"] == "hotellet"

    accepted = await gateway[HOTEL].send(
        "/placement-reports/changes",
        PlacementChangeReported(
            placement_id=offer["placement_id"], action=PlacementAction.ACCEPT, on=date(2026, 3, 20)
        ),
    )

    status = await gateway[HOTEL].ended(accepted)
    assert status["status"] == "applied"
    assert status["services"] == [{"service": "placement", "end": "applied", "reason": None}]
    await wait_settled(settings)
    updates = await events_on(
        settings, topics.partner_placements_topic("hotellet"), "insats.partner-placement.updated.v1"
    )
    assert updates, "the hotel's own stream shows its placement"


async def test_a_referral_the_rules_refuse_is_rejected_with_its_reason_and_rule(
    gateway: dict[Tenant, HttpTenant], settings: Settings
) -> None:
    halmstad = gateway[HALMSTAD]
    await halmstad.ended(await halmstad.send("/programmes", programme(programme_id="halmstad-150")))

    too_old = await halmstad.send(
        "/referrals",
        referral(
            referral_id="1380-9",
            personnummer=format_with_check(date(1950, 1, 2), 118),
            programme_id="halmstad-150",
        ),
    )

    status = await halmstad.ended(too_old)
    assert status["status"] == "rejected"
    assert status["reason"] == "AGE_OUT_OF_RANGE"
    assert status["rule"]


async def test_the_same_request_again_is_the_same_answer_and_no_second_event(
    gateway: dict[Tenant, HttpTenant], settings: Settings
) -> None:
    halmstad = gateway[HALMSTAD]
    defined = programme(programme_id="halmstad-150")
    first = await halmstad.post("/programmes", defined, key="case-system-4711")

    again = await halmstad.post("/programmes", defined, key="case-system-4711")
    other = await halmstad.post(
        "/programmes", programme(programme_id="halmstad-151"), key="case-system-4711"
    )

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["request_id"] == first.json()["request_id"]
    assert other.status_code == 409
    assert other.json()["reason"] == "IDEMPOTENCY_KEY_REUSED"
    topic = inbound_topic(HALMSTAD, Channel.PROGRAMMES)
    assert await _records_with_id(settings, topic, first.json()["request_id"]) == 1
    # The same key is another tenant's own: Kungsbacka's request is a request of its own.
    theirs = await gateway[KUNGSBACKA].post(
        "/programmes",
        programme(programme_id="kungsbacka-iop", municipalities=["1384"]),
        key="case-system-4711",
    )
    assert theirs.status_code == 202
    assert theirs.json()["request_id"] != first.json()["request_id"]


async def test_no_tenant_can_act_on_or_see_another_tenants_data_over_http(
    gateway: dict[Tenant, HttpTenant], settings: Settings
) -> None:
    offer = await _set_up(gateway, settings)
    halmstad, kungsbacka, shop = gateway[HALMSTAD], gateway[KUNGSBACKA], gateway[SHOP]

    # The shop reports on the hotel's placement: refused as a placement it does not know.
    foreign_placement = await shop.send(
        "/placement-reports/changes",
        PlacementChangeReported(
            placement_id=offer["placement_id"], action=PlacementAction.ACCEPT, on=date(2026, 3, 20)
        ),
    )
    # Kungsbacka records a consent for Halmstad's resident: as its own, and in Halmstad's name.
    foreign_resident = await kungsbacka.send("/consents", _consent("k-consent-1", "1384"))
    in_halmstads_name = await kungsbacka.send("/consents", _consent("k-consent-2", "1380"))
    # A partner may not define programmes at all: refused at the door, nothing published.
    not_allowed = await shop.post("/programmes", programme(programme_id="shop-own"))

    assert (await shop.ended(foreign_placement))["reason"] == "UNKNOWN_PLACEMENT"
    refused = await kungsbacka.ended(foreign_resident)
    assert refused["status"] == "rejected"
    assert refused["reason"] == "UNKNOWN_PARTICIPANT"
    assert (await kungsbacka.ended(in_halmstads_name))["reason"] == "MUNICIPALITY_MISMATCH"
    assert not_allowed.status_code == 403
    assert not_allowed.json()["reason"] == "NOT_ALLOWED"
    # A request's status is its sender's alone: to anyone else it does not exist.
    assert (await halmstad.status(foreign_resident)).status_code == 404
    assert (await shop.status(str(uuid.uuid4()))).status_code == 404
    await wait_settled(settings)
    [hotel_offer] = await events_on(
        settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1"
    )
    assert hotel_offer["data"]["placement_id"] == offer["placement_id"]
    assert not await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.started.v1")


async def test_without_a_valid_token_nothing_gets_in(
    gateway: dict[Tenant, HttpTenant], settings: Settings
) -> None:
    halmstad = gateway[HALMSTAD]
    body = programme(programme_id="halmstad-150").model_dump(mode="json")

    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {halmstad.token[:-4]}AAAA"},
        {"Authorization": f"Basic {halmstad.token}"},
    ):
        response = await halmstad.http.post(
            "/v1/programmes", json=body, headers={**headers, "Idempotency-Key": "k-1"}
        )
        assert response.status_code == 401, headers
        assert response.json()["reason"] == "UNAUTHENTICATED"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # Nothing reached the broker: the tenant's topics were not even made.
    assert settings.topic(inbound_topic(HALMSTAD, Channel.PROGRAMMES)) not in await _topics(
        settings
    )


async def _topics(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_a_case_system_refers_residents_by_csv_and_each_row_is_answered(
    gateway: dict[Tenant, HttpTenant], settings: Settings
) -> None:
    halmstad = gateway[HALMSTAD]
    await halmstad.ended(await halmstad.send("/programmes", programme(programme_id="halmstad-150")))
    second = format_with_check(date(1992, 2, 3), 452)
    export = (
        "\ufeffreferral_id;personnummer;programme_id;income_support;referral_date\n"
        f"1380-11;{RESIDENT};halmstad-150;ja;2026-03-02\n"
        "1380-12;19920203-0000;halmstad-150;ja;2026-03-02\n"
        f"1380-13;{second};halmstad-150;kanske;2026-03-02\n"
    ).encode()

    async def upload() -> dict[str, Any]:
        response = await halmstad.http.post(
            "/v1/referrals/csv",
            content=export,
            headers={
                **halmstad.headers,
                "Content-Type": "text/csv; charset=utf-8",
                "Idempotency-Key": "export-2026-03-02",
            },
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    answer = await upload()
    again = await upload()

    assert (answer["accepted"], answer["refused"]) == (2, 1)
    rows = {row["row"]: row for row in answer["rows"]}
    assert rows[3]["result"] == "refused"
    assert [e["location"] for e in rows[3]["errors"]] == ["income_support"]
    assert (await halmstad.ended(rows[1]["request_id"]))["status"] == "applied"
    # Intake refuses a personnummer that is not one and keeps the referral as a dead letter.
    refused = await halmstad.ended(rows[2]["request_id"])
    assert (refused["status"], refused["reason"]) == ("dead_lettered", "INVALID_PERSONNUMMER")
    # The same file again is the same answer, and publishes nothing a second time.
    assert [row.get("request_id") for row in again["rows"]] == [
        row.get("request_id") for row in answer["rows"]
    ]
    topic = inbound_topic(HALMSTAD, Channel.REFERRALS)
    assert await _records_with_id(settings, topic, rows[1]["request_id"]) == 1
    # Only municipalities refer residents.
    refused_partner = await gateway[HOTEL].http.post(
        "/v1/referrals/csv",
        content=export,
        headers={**gateway[HOTEL].headers, "Content-Type": "text/csv", "Idempotency-Key": "x-1"},
    )
    assert refused_partner.status_code == 403
