"""Erasure across all three services: after a person is erased, no collection in any service and
no new event contains anything that links back to them, and the programme's aggregate
indicators are exactly what they were."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from scripts.harness import Platform, read_topic, wait_settled
from services.intake.personnummer import format_with_check
from services.outcomes.reports import programme_overviews
from shared import audience
from shared.audience import AudiencePseudonyms
from shared.contracts import topics
from shared.contracts.municipal import ErasureRequested, OutcomeReported, PlanRecorded
from shared.contracts.partner import PlacementChangeReported, PlacementEndReported
from shared.contracts.plans import Plan, PlanStep, StepGoal, StepKind
from shared.contracts.vocabulary import (
    ActivityType,
    EndReason,
    ErasureReason,
    FollowUpPoint,
    OutcomeSource,
    OutcomeStatus,
    PlacementAction,
)
from shared.persistence import mongo_client
from shared.services import SERVICES
from shared.settings import Settings
from tests.support import event, events_on, outcomes_store, publish
from tests.unit.factories import agreement, programme, referral

NAME = "Karin Raderasson"
STEP = "karins-arbetstraning"  # her plan's step id, which placement events carry beside her id
AS_OF = date(2026, 12, 31)


async def _everything_stored(settings: Settings) -> str:
    client = mongo_client(settings)
    try:
        dump = {}
        for service in SERVICES:
            db = client[settings.database_name(service)]
            for name in await db.list_collection_names():
                dump[f"{service}.{name}"] = await db[name].find({}).to_list()
        return json.dumps(dump, default=str)
    finally:
        await client.close()


async def _indicators(settings: Settings) -> list[str]:
    async with outcomes_store(settings) as store:
        overviews = await programme_overviews(store, AS_OF)
    return [repr((o.indicators, o.funnel, o.started, o.exited)) for o in overviews]


async def _offsets(settings: Settings) -> dict[str, int]:
    """How many records each of the namespace's topics holds now."""
    from shared.messaging.kafka import topic_partitions

    names = [settings.topic(t) for t in topics.ALL_TOPICS]
    names += [settings.topic(topics.municipality_events_topic("1380"))]
    names += [settings.topic(topics.partner_placements_topic("erikshjalpen"))]
    counts = {}
    for name in await topic_partitions(settings, names):
        counts[name] = len(await read_topic(settings, name.removeprefix(settings.topic_prefix)))
    return counts


async def _walk_through(
    settings: Settings, n: int, pnr: str, *, with_plan: bool = False, **extra: Any
) -> str:
    """Refer, offer, accept, start, end with work, report the status at exit; the pseudonym.
    `with_plan`: the caseworker records an individual plan once the person is enrolled."""
    await publish(settings, event(referral(referral_id=f"1380-{n}", personnummer=pnr, **extra)))
    await wait_settled(settings)
    if with_plan:
        await publish(settings, event(_plan(pnr)))
        await wait_settled(settings)
    enrolled = [
        e
        for e in await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
        if e["data"]["referral_id"] == f"1380-{n}"
    ]
    pid = str(enrolled[0]["data"]["participant_id"])
    offers = [
        o
        for o in await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
        if o["data"]["participant_id"] == pid
    ]
    # With a plan, the offer made on referral is withdrawn and the plan's step is offered.
    assert len(offers) == (2 if with_plan else 1)
    [offer] = [o for o in offers if bool(o["data"].get("plan_step_id")) is with_plan]
    placement = offer["data"]["placement_id"]
    await publish(
        settings,
        event(
            PlacementChangeReported(
                placement_id=placement,
                participant_id=pid,
                action=PlacementAction.ACCEPT,
                on=date(2026, 3, 10),
            )
        ),
        event(
            PlacementChangeReported(
                placement_id=placement,
                participant_id=pid,
                action=PlacementAction.START,
                on=date(2026, 3, 11),
            )
        ),
        event(
            PlacementEndReported(
                placement_id=placement,
                participant_id=pid,
                reason=EndReason.MOVED_TO_WORK,
                end_date=date(2026, 6, 1),
            )
        ),
        event(
            OutcomeReported(
                report_id=f"exit-{n}",
                participant_id=pid,
                programme_id="halmstad-150",
                municipality="1380",
                follow_up=FollowUpPoint.AT_EXIT,
                status=OutcomeStatus.UNSUBSIDISED_WORK,
                income_support=False,
                source=OutcomeSource.CASEWORKER,
                observed_on=date(2026, 6, 1),
            )
        ),
    )
    await wait_settled(settings)
    return pid


def _plan(pnr: str) -> PlanRecorded:
    return PlanRecorded(
        request_id="plan-1",
        personnummer=pnr,
        municipality="1380",
        programme_id="halmstad-150",
        plan=Plan(
            revision=1,
            steps=[
                PlanStep(
                    step_id=STEP,
                    kind=StepKind.PLACEMENT,
                    activity=ActivityType.ARBETSTRANING,
                    goal=StepGoal.WORK_CAPACITY,
                )
            ],
        ),
        recorded_on=date(2026, 3, 9),
        recorded_by="Viva, handläggare",
    )


async def test_after_erasure_nothing_links_back_and_the_indicators_are_unchanged(
    platform_at_year_end: Platform, settings: Settings
) -> None:
    await publish(settings, event(programme(capacity=10)), event(agreement(places=10)))
    await wait_settled(settings)
    pnr = format_with_check(date(1985, 5, 5), 555)
    erased = await _walk_through(settings, 1, pnr, with_plan=True, name=NAME)
    for n in range(2, 8):
        await _walk_through(settings, n, format_with_check(date(1980 + n, 1, 1), 300 + n))
    stored = await _everything_stored(settings)
    assert erased in stored  # the test can see the link, until...
    assert erased in json.dumps(json.loads(stored)["placement.plans"])  # her plan too
    before = await _indicators(settings)
    offsets = await _offsets(settings)
    # Her placements' ids stand beside her id on the topics until retention deletes them.
    placements = {
        o["data"]["placement_id"]
        for o in await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
        if o["data"]["participant_id"] == erased
    }
    assert len(placements) == 2
    assert all(p in stored for p in placements) and STEP in stored

    await publish(
        settings,
        event(
            ErasureRequested(
                request_id="gdpr-1",
                personnummer=pnr,
                municipality="1380",
                reason=ErasureReason.GDPR_ARTICLE_17,
                requested_by="socialtjänsten/registrator",
            )
        ),
    )
    await wait_settled(settings)

    stored = await _everything_stored(settings)
    for link in (erased, pnr, pnr[2:], NAME, "1380-1", "exit-1", STEP, *placements):
        assert link not in stored, f"{link} still stored"
    new_events = []
    for name in await _offsets(settings):
        records = await read_topic(settings, name.removeprefix(settings.topic_prefix))
        new_events += [json.loads(value) for _, value, _ in records[offsets.get(name, 0) :]]
    # The ids the municipality's and the partner's streams show the person under.
    assert settings.audience_key is not None
    pseudonyms = AudiencePseudonyms(settings.audience_key.get_secret_value().encode())
    seen_as = {
        erased,
        pseudonyms.shown(audience.municipality("1380"), erased),
        pseudonyms.shown(audience.partner("erikshjalpen"), erased),
    }
    notices = {"insats.participant.erased.v1", "insats.resident-event.v1"}
    for record in new_events:
        text = json.dumps(record)
        if any(seen in text for seen in seen_as):
            # Only the erasure notice itself (and the municipality's view of it) names the person.
            assert record["type"] in notices
            if record["type"] == "insats.resident-event.v1":
                assert record["data"]["source_type"] == "insats.participant.erased.v1"
                assert record["data"]["subject_id"] == pseudonyms.shown(
                    audience.municipality("1380"), erased
                )
    assert await _indicators(settings) == before
