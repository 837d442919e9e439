"""No tenant can write another tenant's data: on the real broker, with each tenant logged in with
its own SCRAM user on the local stack's SASL listener and held to its literal ACLs, and the three
services running as processes.

Halmstad (1380) and Kungsbacka (1384) each have a programme, a partner with an agreement and a
referred resident with an offered place. Kungsbacka then tries, on its own topics (the only ones
it may write), every claim on Halmstad's data the issue lists; each is refused, answered on
Kungsbacka's own stream with its reason, audited, and changes nothing of Halmstad's. The
envelopes even carry Halmstad's `source`: the topic, not the payload, says who sent them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError

from scripts.harness import Platform, wait_settled
from scripts.stack import Stack
from scripts.stack.access import Credentials, onboard
from services.intake.personnummer import format_with_check
from shared.contracts import topics
from shared.contracts.envelope import EventData, new_event
from shared.contracts.municipal import (
    ConsentRecorded,
    CriterionAssessment,
    ErasureRequested,
    PartnerRegistered,
    PartnerVetted,
)
from shared.contracts.partner import PlacementChangeReported
from shared.contracts.registry import encode_event
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.contracts.vocabulary import (
    ActivityType,
    ConsentPurpose,
    ErasureReason,
    IopCriterion,
    PartnerKind,
    PlacementAction,
)
from shared.luhn import organisationsnummer
from shared.messaging.kafka import ensure_topics, tenant_topic_configs
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import events_on
from tests.unit.factories import agreement, outcome_reported, programme, referral

HALMSTAD, KUNGSBACKA = Tenant.municipality("1380"), Tenant.municipality("1384")
HOTEL, SHOP = Tenant.partner("hotellet"), Tenant.partner("butiken")
HALMSTAD_PERSON = format_with_check(date(1988, 4, 12), 310)
KUNGSBACKA_PERSON = format_with_check(date(1991, 9, 3), 420)
NOBODY = format_with_check(date(1979, 1, 30), 530)


@dataclass
class Sender:
    """A tenant's own system: its SCRAM user, writing only where its ACLs let it."""

    tenant: Tenant
    credentials: Credentials
    settings: Settings
    producer: AIOKafkaProducer

    async def send(self, data: EventData, *, source: str | None = None) -> str:
        """Publish on the tenant's own topic of the event's channel; returns the event id."""
        envelope = new_event(
            data,
            # Whatever the sender writes here, the topic says who it is.
            source=source or self.tenant.urn,
            municipality=getattr(data, "municipality", None) or self.tenant.kommunkod,
        )
        assert data.CHANNEL is not None
        topic = self.settings.topic(inbound_topic(self.tenant, Channel(data.CHANNEL)))
        await self.producer.send_and_wait(
            topic, encode_event(envelope), key=envelope.subject.encode()
        )
        return str(envelope.id)


@pytest.fixture
async def tenants(local_stack: Stack, settings: Settings) -> AsyncIterator[dict[Tenant, Sender]]:
    """The four tenants onboarded on the broker, each with its own logged-in producer."""
    found: dict[Tenant, Sender] = {}
    tenants = (HALMSTAD, KUNGSBACKA, HOTEL, SHOP)
    for tenant in tenants:
        await ensure_topics(settings, tenant_topic_configs(settings, tenant))
    # Side by side: each onboarding runs Kafka's own tools, a JVM start each.
    onboarded = await asyncio.gather(
        *(
            asyncio.to_thread(onboard, local_stack.kafka, tenant, settings.topic_prefix)
            for tenant in tenants
        )
    )
    for tenant, credentials in zip(tenants, onboarded, strict=True):
        producer = AIOKafkaProducer(
            bootstrap_servers=credentials.bootstrap_servers,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username=credentials.username,
            sasl_plain_password=credentials.password,
            request_timeout_ms=10_000,
        )
        await producer.start()
        found[tenant] = Sender(tenant, credentials, settings, producer)
    try:
        yield found
    finally:
        for sender in found.values():
            await sender.producer.stop()


@pytest.fixture
def senders(tenants: dict[Tenant, Sender], platform: Platform) -> dict[Tenant, Sender]:
    """The tenants, with the three services running to answer them."""
    return tenants


def _consent(request_id: str, municipality: str = "1384", **changes: object) -> ConsentRecorded:
    values: dict[str, object] = {
        "request_id": request_id,
        "personnummer": HALMSTAD_PERSON,
        "municipality": municipality,
        "purpose": ConsentPurpose.SHARE_WITH_PARTNER,
        "granted": True,
        "source": "Kungsbacka",
        "recorded_on": date(2026, 3, 10),
    }
    return ConsentRecorded.model_validate({**values, **changes})


def _erasure(request_id: str, personnummer: str) -> ErasureRequested:
    return ErasureRequested(
        request_id=request_id,
        personnummer=personnummer,
        municipality="1384",
        reason=ErasureReason.GDPR_ARTICLE_17,
        requested_by="Kungsbacka",
    )


def _partner(partner_id: str, municipality: str) -> PartnerRegistered:
    return PartnerRegistered(
        partner_id=partner_id,
        organisationsnummer=organisationsnummer("802011111"),
        name=f"{partner_id} AB",
        kind=PartnerKind.SOCIAL_CLAUSE_EMPLOYER,
        municipality=municipality,
    )


async def _set_up_both(senders: dict[Tenant, Sender], settings: Settings) -> None:
    halmstad, kungsbacka = senders[HALMSTAD], senders[KUNGSBACKA]
    await halmstad.send(programme(programme_id="halmstad-150", capacity=5))
    await kungsbacka.send(
        programme(programme_id="kungsbacka-iop", municipalities=["1384"], capacity=5)
    )
    await halmstad.send(_partner("hotellet", "1380"))
    await kungsbacka.send(_partner("butiken", "1384"))
    await halmstad.send(
        agreement(agreement_id="hotel-1", partner_id="hotellet", programme_id="halmstad-150")
    )
    await kungsbacka.send(
        agreement(agreement_id="shop-1", partner_id="butiken", programme_id="kungsbacka-iop")
    )
    await wait_settled(settings)
    await halmstad.send(
        referral(referral_id="1380-1", personnummer=HALMSTAD_PERSON, programme_id="halmstad-150")
    )
    await kungsbacka.send(
        referral(
            referral_id="1384-1",
            personnummer=KUNGSBACKA_PERSON,
            municipality="1384",
            programme_id="kungsbacka-iop",
        )
    )
    await wait_settled(settings)


async def _answers(settings: Settings, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """The refusals on a tenant's own stream, by the refused event's id."""
    return {
        answer["data"]["input_id"]: answer["data"]
        for answer in await events_on(settings, tenant.answers_topic(), "insats.input.rejected.v1")
        if answer["data"].get("input_id")
    }


async def _audited(settings: Settings, service: str, input_id: str) -> list[dict[str, Any]]:
    client = mongo_client(settings)
    try:
        audit = client[settings.database_name(service)]["audit"]
        return await audit.find({"input_id": input_id}).to_list()
    finally:
        await client.close()


async def _document(settings: Settings, service: str, collection: str, key: str) -> Any:
    client = mongo_client(settings)
    try:
        found: Any = await client[settings.database_name(service)][collection].find_one(
            {"_id": key}
        )
        return found
    finally:
        await client.close()


async def _halmstads_offer(settings: Settings) -> dict[str, Any]:
    [offer] = [
        o["data"]
        for o in await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
        if o["data"]["programme_id"] == "halmstad-150"
    ]
    found: dict[str, Any] = offer
    return found


async def test_every_cross_tenant_claim_is_refused_with_its_reason_and_changes_nothing(
    senders: dict[Tenant, Sender], settings: Settings
) -> None:
    await _set_up_both(senders, settings)
    kungsbacka, shop = senders[KUNGSBACKA], senders[SHOP]
    offer = await _halmstads_offer(settings)
    forged = HALMSTAD.urn

    attempts: dict[str, tuple[str, str, str]] = {}  # what -> (event id, service, reason)

    async def attempt(what: str, service: str, reason: str, id_: Awaitable[str]) -> None:
        attempts[what] = (await id_, service, reason)

    await attempt(
        "redefine Halmstad's programme",
        "placement",
        "NOT_PROGRAMME_OWNER",
        kungsbacka.send(programme(programme_id="halmstad-150", capacity=0), source=forged),
    )
    await attempt(
        "overwrite Halmstad's partner",
        "placement",
        "NOT_PARTNER_OWNER",
        kungsbacka.send(_partner("hotellet", "1384"), source=forged),
    )
    await attempt(
        "vet Halmstad's partner",
        "placement",
        "NOT_PARTNER_OWNER",
        kungsbacka.send(
            PartnerVetted(
                partner_id="hotellet",
                assessed_by="Kungsbacka",
                assessments=[
                    CriterionAssessment(
                        criterion=IopCriterion.NON_PROFIT, met=False, assessed_on=date(2026, 3, 1)
                    )
                ],
            )
        ),
    )
    await attempt(
        "sign an agreement in Halmstad's programme with its own partner",
        "placement",
        "NOT_PROGRAMME_OWNER",
        kungsbacka.send(
            agreement(
                agreement_id="shop-in-halmstad",
                partner_id="butiken",
                programme_id="halmstad-150",
                activities=[ActivityType.ARBETSTRANING],
            )
        ),
    )
    await attempt(
        "sign an agreement in its own programme with Halmstad's partner",
        "placement",
        "NOT_PARTNER_OWNER",
        kungsbacka.send(
            agreement(
                agreement_id="hotel-in-kungsbacka",
                partner_id="hotellet",
                programme_id="kungsbacka-iop",
            )
        ),
    )
    await attempt(
        "change a Halmstad resident's consent",
        "intake",
        "UNKNOWN_PARTICIPANT",
        kungsbacka.send(_consent("k-consent-1")),
    )
    await attempt(
        "change a consent in Halmstad's name",
        "intake",
        "MUNICIPALITY_MISMATCH",
        kungsbacka.send(_consent("k-consent-2", municipality="1380"), source=forged),
    )
    await attempt(
        "erase a Halmstad resident",
        "intake",
        "UNKNOWN_PARTICIPANT",
        kungsbacka.send(_erasure("k-erase-1", HALMSTAD_PERSON)),
    )
    await attempt(
        "probe a personnummer nobody referred",
        "intake",
        "UNKNOWN_PARTICIPANT",
        kungsbacka.send(_erasure("k-erase-2", NOBODY)),
    )
    await attempt(
        "answer a Halmstad resident's follow-up",
        "outcomes",
        "UNKNOWN_PARTICIPANT",
        kungsbacka.send(outcome_reported(offer["participant_id"], report_id="k-outcome-1")),
    )
    await attempt(
        "report on another partner's placement",
        "placement",
        "UNKNOWN_PLACEMENT",
        shop.send(
            PlacementChangeReported(
                placement_id=offer["placement_id"],
                action=PlacementAction.ACCEPT,
                on=date(2026, 3, 20),
            )
        ),
    )
    referral_id = await kungsbacka.send(
        referral(
            referral_id="1380-forged",
            personnummer=format_with_check(date(1985, 6, 6), 640),
            municipality="1380",
            programme_id="halmstad-150",
        ),
        source=forged,
    )
    await wait_settled(settings)

    answers = {tenant: await _answers(settings, tenant) for tenant in (KUNGSBACKA, SHOP, HALMSTAD)}
    for what, (event_id, service, reason) in attempts.items():
        sender = SHOP if what.startswith("report") else KUNGSBACKA
        answer = answers[sender].get(event_id)
        assert answer is not None, f"{what}: no answer on {sender.answers_topic()}"
        assert answer["reason"] == reason, what
        assert answer["tenant"] == sender.key, what
        assert answer["message"] and answer["message_sv"], what
        assert event_id not in answers[HALMSTAD], f"{what}: answered to Halmstad"
        if reason != "UNKNOWN_PARTICIPANT" or "nobody" not in what:
            assert await _audited(settings, service, event_id), f"{what}: not audited"
    # Someone else's resident and no one at all get the very same answer: nothing to probe.
    someone, nobody = (
        answers[KUNGSBACKA][attempts[what][0]]
        for what in ("erase a Halmstad resident", "probe a personnummer nobody referred")
    )
    assert (someone["reason"], someone["message"]) == (nobody["reason"], nobody["message"])

    # A referral of another municipality's resident is answered on the sender's stream.
    rejected = [
        e
        for e in await events_on(settings, topics.INTAKE_EVENTS, "insats.referral.rejected.v1")
        if e["causationid"] == referral_id
    ]
    assert [(e["data"]["reason"], e["municipality"]) for e in rejected] == [
        ("MUNICIPALITY_MISMATCH", "1384")
    ]

    # And nothing of Halmstad's changed.
    stored = await _document(settings, "placement", "programmes", "halmstad-150")
    assert stored["definition"]["capacity"] == 5
    assert stored["owner"] == HALMSTAD.key
    assert set(stored["agreements"]) == {"hotel-1"}
    partner = await _document(settings, "placement", "partners", "hotellet")
    assert partner["owner"] == HALMSTAD.key
    assert partner["registration"]["municipality"] == "1380"
    assert "vetting" not in partner
    intake_programme = await _document(settings, "intake", "programmes", "halmstad-150")
    assert intake_programme["definition"]["capacity"] == 5
    outcomes_programme = await _document(settings, "outcomes", "programmes", "halmstad-150")
    assert outcomes_programme["definition"]["capacity"] == 5
    kungsbacka_book = await _document(settings, "placement", "programmes", "kungsbacka-iop")
    assert set(kungsbacka_book["agreements"]) == {"shop-1"}
    participant = await _document(settings, "intake", "participants", offer["participant_id"])
    assert participant is not None, "Kungsbacka erased Halmstad's resident"
    assert participant.get("consents", {}).get(ConsentPurpose.SHARE_WITH_PARTNER.value) is None
    placement = await _document(settings, "placement", "placements", offer["placement_id"])
    assert placement["status"] == "erbjuden"
    assert await _document(settings, "outcomes", "outcomes", "k-outcome-1") is None
    erased = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.erased.v1")
    assert erased == []


async def test_an_agreement_signed_before_someone_else_defines_the_programme_never_counts(
    senders: dict[Tenant, Sender], settings: Settings
) -> None:
    halmstad, kungsbacka = senders[HALMSTAD], senders[KUNGSBACKA]
    await kungsbacka.send(_partner("butiken", "1384"))
    early = await kungsbacka.send(
        agreement(agreement_id="shop-early", partner_id="butiken", programme_id="framtid")
    )
    await wait_settled(settings)
    await halmstad.send(programme(programme_id="framtid", capacity=3))
    await halmstad.send(
        referral(referral_id="1380-9", personnummer=HALMSTAD_PERSON, programme_id="framtid")
    )
    await wait_settled(settings)
    book = await _document(settings, "placement", "programmes", "framtid")
    assert book["owner"] == HALMSTAD.key
    assert "shop-early" not in book.get("agreements", {})
    assert await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1") == []
    [answer] = [
        a for a in (await _answers(settings, KUNGSBACKA)).values() if a["input_id"] == early
    ]
    assert answer["reason"] == "NOT_PROGRAMME_OWNER"


async def test_a_regional_programme_lets_its_municipalities_share_case_handling_audited(
    senders: dict[Tenant, Sender], settings: Settings, local_stack: Stack
) -> None:
    owner = Tenant.owner("kommunforbundet-test")
    await ensure_topics(settings, tenant_topic_configs(settings, owner))
    credentials = onboard(local_stack.kafka, owner, settings.topic_prefix)
    producer = AIOKafkaProducer(
        bootstrap_servers=credentials.bootstrap_servers,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=credentials.username,
        sasl_plain_password=credentials.password,
    )
    await producer.start()
    regional = Sender(owner, credentials, settings, producer)
    try:
        await regional.send(
            programme(
                programme_id="regional",
                municipalities=["1380", "1384"],
                cross_municipality_case_handling=True,
            )
        )
        await wait_settled(settings)
        await senders[HALMSTAD].send(
            referral(referral_id="1380-r", personnummer=HALMSTAD_PERSON, programme_id="regional")
        )
        await wait_settled(settings)
        consent = await senders[KUNGSBACKA].send(
            _consent("k-regional-consent", purpose=ConsentPurpose.FOLLOW_UP_CONTACT, granted=False)
        )
        await wait_settled(settings)
    finally:
        await producer.stop()
    changed = await events_on(settings, topics.INTAKE_EVENTS, "insats.consent.changed.v1")
    assert [c["causationid"] for c in changed] == [consent]
    [entry] = [
        e
        for e in await _audited(settings, "intake", consent)
        if e["action"] == "cross_municipality_case_handling"
    ]
    assert entry["tenant"] == KUNGSBACKA.key


async def test_no_tenant_may_write_another_tenants_topics_or_the_shared_ones(
    tenants: dict[Tenant, Sender], settings: Settings
) -> None:
    kungsbacka, shop = tenants[KUNGSBACKA], tenants[SHOP]
    value = json.dumps({"id": str(uuid.uuid4())}).encode()
    # Its own topics it may write.
    await kungsbacka.producer.send_and_wait(
        settings.topic(inbound_topic(KUNGSBACKA, Channel.PROGRAMMES)), value, key=b"x"
    )
    forbidden = [
        (kungsbacka, inbound_topic(HALMSTAD, channel))
        for channel in (
            Channel.REFERRALS,
            Channel.PROGRAMMES,
            Channel.PARTNERS,
            Channel.OUTCOME_REPORTS,
            Channel.PLACEMENT_REPORTS,
        )
    ]
    forbidden += [(shop, inbound_topic(HOTEL, Channel.PLACEMENT_REPORTS))]
    forbidden += [(kungsbacka, topic) for topic in topics.INBOUND_TOPICS]
    await ensure_topics(settings, {settings.topic(t): {} for t in topics.INBOUND_TOPICS})
    for sender, topic in forbidden:
        with pytest.raises(TopicAuthorizationFailedError):
            await sender.producer.send_and_wait(settings.topic(topic), value, key=b"x")
