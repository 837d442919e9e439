"""The three services as processes, fed exactly as a municipal case system would feed them:
hand-written JSON bytes through a plain aiokafka producer, no Insats code on the sending side."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from scripts.harness import Platform, ensure_home_topics, wait_settled
from services.intake.personnummer import format_with_check
from shared.contracts.tenants import Tenant
from shared.settings import Settings
from tests.support import HALMSTAD, events_on, outcomes_store


def envelope(kind: str, subject: str, data: dict[str, Any], municipality: str = "1380") -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": kind,
            "source": f"urn:kommun:{municipality}:forsorjningsstod",
            "time": datetime.now(UTC).isoformat(),
            "subject": subject,
            "municipality": municipality,
            "datacontenttype": "application/json",
            "data": data,
        }
    ).encode()


async def test_referrals_flow_to_placements_and_the_report(
    platform: Platform, settings: Settings
) -> None:
    # Halmstad and its home-care partner are onboarded: each has its own topics.
    await ensure_home_topics(
        settings, [*HALMSTAD.writes(), *Tenant.partner("hemtjansten").writes()]
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    prefix = settings.topic_prefix

    def programme(capacity: int) -> bytes:
        return envelope(
            "insats.programme.defined.v1",
            "halmstad-150",
            {
                "programme_id": "halmstad-150",
                "name": "Halmstad 150",
                "owner": "Halmstads kommun",
                "municipalities": ["1380"],
                "period_start": "2026-01-01",
                "period_end": "2027-12-31",
                "capacity": capacity,
                "planned_participants": 150,
                "goal_sysselsattning": 0.5,
                "eligibility": {"min_age": 18, "max_age": 64, "requires_income_support": True},
                "priority": "remissdatum",
                "activities": ["praktik"],
            },
        )

    try:
        # The programme is announced before it opens its places, so referrals queue up first.
        await producer.send_and_wait(
            f"{prefix}insats.municipality.1380.programmes",
            programme(capacity=0),
            key=b"halmstad-150",
        )
        await producer.send_and_wait(
            f"{prefix}insats.municipality.1380.partners",
            envelope(
                "insats.agreement.signed.v1",
                "hemtjansten",
                {
                    "agreement_id": "hemtjansten-2026",
                    "partner_id": "hemtjansten",
                    "programme_id": "halmstad-150",
                    "places": 5,
                    "kind": "kommunal",
                    "activities": ["praktik"],
                    "period_start": "2026-01-01",
                    "period_end": "2027-12-31",
                },
            ),
            key=b"hemtjansten",
        )
        await wait_settled(settings)

        numbers = [format_with_check(date(1980 + n, 3, 10 + n), 200 + n) for n in range(8)]
        referrals = [
            (
                f"1380-{n}",
                envelope(
                    "insats.referral.received.v1",
                    f"1380-{n}",
                    {
                        "referral_id": f"1380-{n}",
                        "personnummer": number,
                        "municipality": "1380",
                        "programme_id": "halmstad-150",
                        "income_support": True,
                        "target_groups": ["langtidsarbetslosa"],
                        "referral_date": f"2026-02-{10 + n:02d}",
                    },
                ),
            )
            for n, number in enumerate(numbers)
        ]
        bad_check_digit = numbers[0][:-1] + str((int(numbers[0][-1]) + 1) % 10)
        malformed = b'{"type": "insats.referral.received.v1", "data": {"referral_id": "1380-x"'
        invalid = envelope(
            "insats.referral.received.v1",
            "1380-bad",
            {
                "referral_id": "1380-bad",
                "personnummer": bad_check_digit,
                "municipality": "1380",
                "programme_id": "halmstad-150",
                "income_support": True,
                "referral_date": "2026-02-09",
            },
        )
        # The bad ones arrive among the good ones.
        sequence = [*referrals[:3], ("1380-x", malformed), ("1380-bad", invalid), *referrals[3:]]
        for key, value in sequence:
            await producer.send(
                f"{prefix}insats.municipality.1380.referrals", value, key=key.encode()
            )
        await producer.flush()
        await wait_settled(settings)
        await producer.send_and_wait(
            f"{prefix}insats.municipality.1380.programmes",
            programme(capacity=5),
            key=b"halmstad-150",
        )
    finally:
        await producer.stop()
    await wait_settled(settings)

    enrolled = await events_on(settings, "insats.intake.events", "insats.participant.enrolled.v1")
    rejected = await events_on(settings, "insats.intake.events", "insats.referral.rejected.v1")
    offered = await events_on(settings, "insats.placement.events", "insats.placement.offered.v1")
    assert len(enrolled) == 8
    assert {r["data"]["referral_id"]: r["data"]["reason"] for r in rejected} == {
        "1380-x": "INVALID_JSON",
        "1380-bad": "INVALID_PERSONNUMMER",
    }
    # Five places, eight enrolled: the five referred first are offered them, by referral date.
    offered_to = {o["data"]["participant_id"]: o["data"] for o in offered}
    offered_referrals = {
        e["data"]["referral_id"] for e in enrolled if e["data"]["participant_id"] in offered_to
    }
    assert offered_referrals == {f"1380-{n}" for n in range(5)}
    assert all(o["partner_id"] == "hemtjansten" for o in offered_to.values())

    # The partner's system accepts and starts them, as plain JSON on the partner-report topic.
    partner = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await partner.start()
    try:
        for pid, offer in offered_to.items():
            for action, on in (("acceptera", "2026-03-01"), ("starta", "2026-03-02")):
                change = {
                    "placement_id": offer["placement_id"],
                    "participant_id": pid,
                    "action": action,
                    "on": on,
                    "reported_by": "hemtjansten",
                }
                await partner.send_and_wait(
                    f"{prefix}insats.partner.hemtjansten.placement-reports",
                    envelope("insats.placement.change-reported.v1", pid, change),
                    key=pid.encode(),
                )
    finally:
        await partner.stop()
    await wait_settled(settings)

    async with outcomes_store(settings) as store:
        [defined] = await store.programme_definitions()
        reached = [j for j in await store.journeys_of(defined.programme_id) if j.enrolled]
        refused = await store.rejected_referrals(defined.programme_id)
    placed = sum(1 for j in reached if j.first_placement is not None)
    assert (len(reached), placed, len(reached) + refused) == (8, 5, 9)
    for service in platform.services.values():
        assert service.health()[0] == 200
