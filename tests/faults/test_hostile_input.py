"""Hostile input on every inbound topic, against the three services as processes on the real
broker and database: whatever bytes any tenant sends, every record ends applied, rejected with a
reason or dead-lettered with a reason, in every service that reads it; no service stops or turns
unready; no partition stays stuck: a normal referral sent afterwards is enrolled and offered a
place within a deadline.

Hypothesis draws the records (random bytes, deep nesting, huge strings, wrong types, unknown
types, non-ASCII digits, extreme dates and numbers, valid events of one channel on another's
topic, and duplicated ids with different content), from a fixed seed so a failure reproduces;
INSATS_HOSTILE_RECORDS sets how many. Then the accounting is exact: for each service and each
record it read, its end is in that service's inbox under the record's coordinates, or the record
repeated an event id that service already had (a duplicate, skipped).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.harness import Platform, Publisher, wait_settled
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
from shared.contracts.partner import AttendanceReported, PlacementEndReported
from shared.contracts.registry import UnreadableEvent, encode_event, parse_event
from shared.contracts.tenants import CHANNELS, Channel, Tenant
from shared.contracts.vocabulary import (
    ConsentPurpose,
    EndReason,
    ErasureReason,
    IopCriterion,
    PartnerKind,
)
from shared.luhn import organisationsnummer
from shared.persistence import mongo_client
from shared.services import SERVICES
from shared.settings import Settings as InsatsSettings
from tests.support import events_on, platform_running
from tests.unit.factories import agreement, outcome_reported, programme, referral

RECORDS = int(os.environ.get("INSATS_HOSTILE_RECORDS", "400"))
DEADLINE_SECONDS = 90.0
HALMSTAD = Tenant.municipality("1380")
SENDERS = (HALMSTAD, Tenant.owner("angriparna"), Tenant.partner("skurken"))
# Who reads each channel, and so must account for each of its records.
READERS: dict[Channel, tuple[str, ...]] = {
    Channel.REFERRALS: ("intake",),
    Channel.PROGRAMMES: ("intake", "placement", "outcomes"),
    Channel.PARTNERS: ("placement", "outcomes"),
    Channel.OUTCOME_REPORTS: ("outcomes",),
    Channel.PLACEMENT_REPORTS: ("placement",),
}
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + n) for n in range(10)))


def _samples() -> list[EventData]:
    """One valid event of every type outside systems publish: the material hostile ones are
    made of."""
    on = date(2026, 3, 2)
    return [
        referral(),
        ConsentRecorded(
            request_id="c-1",
            personnummer=format_with_check(date(1990, 5, 17), 234),
            municipality="1380",
            purpose=ConsentPurpose.SHARE_WITH_PARTNER,
            granted=True,
            source="case system",
            recorded_on=on,
        ),
        ErasureRequested(
            request_id="e-1",
            participant_id="p-unknown",
            municipality="1380",
            reason=ErasureReason.GDPR_ARTICLE_17,
            requested_by="case system",
        ),
        programme(),
        PartnerRegistered(
            partner_id="hotellet",
            organisationsnummer=organisationsnummer("802011111"),
            name="Hotellet",
            kind=PartnerKind.SOCIAL_CLAUSE_EMPLOYER,
            municipality="1380",
        ),
        PartnerVetted(
            partner_id="hotellet",
            assessed_by="x",
            assessments=[
                CriterionAssessment(criterion=IopCriterion.NON_PROFIT, met=True, assessed_on=on)
            ],
        ),
        agreement(),
        outcome_reported("p-unknown"),
        PlacementEndReported(placement_id="pl-1", reason=EndReason.COMPLETED, end_date=on),
        AttendanceReported(
            placement_id="pl-1",
            period_start=on,
            period_end=on,
            expected_hours=8,
            attended_hours=4,
        ),
    ]


SAMPLES = [
    json.loads(encode_event(new_event(s, source="x", municipality="1380"))) for s in _samples()
]

hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(alphabet="0123456789-".translate(ARABIC_INDIC), min_size=4, max_size=13),
    st.sampled_from(
        [
            "0001-01-01",
            "9999-12-31",
            "2026-02-30",
            "2026-13-01",
            "2026-01-01".translate(ARABIC_INDIC),
        ]
    ),
    st.just("x" * 200_000),  # a huge string, within the broker's bound for the whole record
    st.lists(st.text(max_size=5), max_size=500),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=5),
)


def _set(document: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    node: Any = document
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        node[path[-1]] = value
    return document


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid event of some type with one field (or the envelope's) made hostile."""
    document = json.loads(json.dumps(draw(st.sampled_from(SAMPLES))))
    document["id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    fields = [["data", key] for key in document["data"]] + [
        [key] for key in ("subject", "source", "time", "municipality", "correlationid", "type")
    ]
    path = draw(st.sampled_from(fields))
    return json.dumps(_set(document, path, draw(hostile_values))).encode()


@st.composite
def unchanged(draw: st.DrawFn) -> bytes:
    """A valid event, with a fresh id: of this channel or of another (a wrong topic)."""
    document = json.loads(json.dumps(draw(st.sampled_from(SAMPLES))))
    document["id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    return json.dumps(document).encode()


deep = st.integers(100, 20_000).map(lambda n: b'{"data": ' + b"[" * n + b"]" * n + b"}")
unknown_type = st.text(max_size=30).map(
    lambda t: json.dumps({"type": t, "id": str(uuid.uuid4()), "data": {}}).encode()
)
records = st.one_of(st.binary(max_size=2_000), deep, unknown_type, mutated(), unchanged())


@dataclass(frozen=True)
class Hostile:
    tenant: Tenant
    channel: Channel
    value: bytes
    key: bytes | None


def _draw() -> list[Hostile]:
    drawn: list[Hostile] = []

    @settings(
        max_examples=RECORDS,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(
        tenant=st.sampled_from(SENDERS),
        data=st.data(),
        value=records,
        key=st.none() | st.binary(max_size=40),
    )
    def collect(tenant: Tenant, data: st.DataObject, value: bytes, key: bytes | None) -> None:
        channel = data.draw(st.sampled_from(sorted(CHANNELS[tenant.kind])))
        drawn.append(Hostile(tenant, channel, value, key))

    collect()
    # Duplicated ids with different content: the same id again, its data changed.
    for original in list(drawn[: RECORDS // 10]):
        try:
            document = json.loads(original.value)
        except (ValueError, RecursionError):
            continue
        if isinstance(document, dict) and isinstance(document.get("data"), dict):
            document["data"]["note"] = "different content, same id"
            drawn.append(
                Hostile(original.tenant, original.channel, json.dumps(document).encode(), None)
            )
    return drawn


@pytest.fixture
async def platform(
    env: dict[str, str], settings: InsatsSettings, tmp_path: Path
) -> AsyncIterator[Platform]:
    async with platform_running(env, tmp_path / "logs") as running:
        yield running


def _scoped_id(hostile: Hostile) -> str | None:
    try:
        envelope = parse_event(hostile.value)
    except (UnreadableEvent, RecursionError, ValueError):
        return None
    return f"{hostile.tenant.key}/{envelope.id}"


async def test_hostile_records_on_every_inbound_topic_stop_nothing_and_each_has_an_end(
    platform: Platform, settings: InsatsSettings
) -> None:
    hostile = _draw()
    async with Publisher(settings) as publisher:
        for event in (
            programme(capacity=5),
            agreement(partner_id="hotellet", places=5),
        ):
            await publisher.send(new_event(event, source=HALMSTAD.urn, municipality="1380"))
        await publisher.flush()
        await wait_settled(settings)
        sent: list[tuple[Hostile, str]] = []
        for item in hostile:
            metadata = await publisher.send_as(item.tenant, item.channel, item.value, item.key)
            sent.append((item, f"{metadata.topic}:{metadata.partition}:{metadata.offset}"))
        await publisher.flush()
        started = time.monotonic()
        person = format_with_check(date(1987, 10, 5), 777)
        await publisher.send(
            new_event(
                referral(referral_id="1380-after", personnummer=person),
                source=HALMSTAD.urn,
                municipality="1380",
            )
        )
        await publisher.flush()

    async def offered() -> bool:
        enrolled = [
            e
            for e in await events_on(
                settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1"
            )
            if e["data"]["referral_id"] == "1380-after"
        ]
        offers = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
        return bool(enrolled) and any(
            o["data"]["participant_id"] == enrolled[0]["data"]["participant_id"] for o in offers
        )

    while not await offered():
        assert time.monotonic() - started < DEADLINE_SECONDS, "the referral after was stuck"
        await asyncio.sleep(0.5)
    await wait_settled(settings, timeout=300)

    for name, process in platform.services.items():
        status, body = await asyncio.to_thread(process.health)
        assert status == 200, f"{name} not ready after hostile input: {body}"

    ends: dict[str, Counter[str]] = {}
    client = mongo_client(settings)
    try:
        for service in SERVICES:
            database = client[settings.database_name(service)]
            inbox = await database["inbox"].find({}).to_list()
            by_origin = {doc.get("origin"): doc.get("end") for doc in inbox}
            ids = {doc["_id"] for doc in inbox}
            tally: Counter[str] = Counter()
            for item, origin in sent:
                if service not in READERS[item.channel]:
                    continue
                if origin in by_origin:
                    tally[str(by_origin[origin])] += 1
                elif (scoped := _scoped_id(item)) is not None and scoped in ids:
                    tally["duplicate"] += 1
                else:
                    tally["no end"] += 1
            ends[service] = tally
            parked = await database["outbox_parked"].count_documents({})
            assert parked == 0, f"{service} parked {parked} records it could not publish"
    finally:
        await client.close()
    print(f"{len(sent)} hostile records; ends per service: {ends}")
    for service, tally in ends.items():
        read = sum(1 for item, _ in sent if service in READERS[item.channel])
        assert tally["no end"] == 0, f"{service}: records without an end: {tally}"
        assert sum(tally.values()) == read, service
        assert set(tally) <= {"applied", "rejected", "dead_lettered", "duplicate"}, tally
