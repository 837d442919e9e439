"""Individual plans against the real broker and database: the caseworker's plan goes through
intake to placement, which queues the participant for the plan's next step, not for whatever the
queue offers; arbetsträning into OSA at the same partner is a step, not an end and a re-queue;
outcomes counts the steps completed against the plan."""

from __future__ import annotations

from datetime import date
from typing import Any

from scripts.harness import wait_settled
from services.intake.personnummer import format_with_check
from services.outcomes.indicators import lookup
from services.outcomes.reports import programme_overviews
from shared.contracts import topics
from shared.contracts.municipal import (
    ParticipationExitRecorded,
    PlanRecorded,
    ResidenceChangeRecorded,
)
from shared.contracts.partner import PlacementChangeReported, PlacementEndReported
from shared.contracts.plans import (
    EmploymentKind,
    Plan,
    PlanStep,
    StepGoal,
    StepKind,
    StepStatus,
    SubsidisedEmployment,
)
from shared.contracts.vocabulary import ActivityType, EndReason, ExitReason, PlacementAction
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import event, events_on, outcomes_store, publish, running
from tests.unit.factories import agreement, programme, referral

PNR = format_with_check(date(1986, 5, 14), 372)
OFFERED = "insats.placement.offered.v1"
PROGRESSED = "insats.plan.progressed.v1"
REJECTED = "insats.input.rejected.v1"
SERVICES = ["intake", "placement", "outcomes"]
INTRO = PlanStep(
    step_id="intro",
    kind=StepKind.INTERNAL,
    activity=ActivityType.INTRODUCTION,
    goal=StepGoal.MAPPING,
    status=StepStatus.ONGOING,
    started_on=date(2026, 3, 2),
)
PRAKTIK = PlanStep(
    step_id="praktik",
    kind=StepKind.PLACEMENT,
    activity=ActivityType.PRAKTIK,
    goal=StepGoal.WORK_EXPERIENCE,
    after=["intro"],
    partner_id="halmstad-kafe",
)
ARBETSTRANING = PlanStep(
    step_id="arbetstraning",
    kind=StepKind.PLACEMENT,
    activity=ActivityType.ARBETSTRANING,
    goal=StepGoal.WORK_CAPACITY,
    after=["praktik"],
    partner_id="halmstad-verkstan",
    hours_per_week=8,
)
OSA = PlanStep(
    step_id="osa",
    kind=StepKind.EMPLOYMENT,
    goal=StepGoal.EMPLOYMENT,
    after=["arbetstraning"],
    employment=SubsidisedEmployment(
        kind=EmploymentKind.OSA,
        employer_id="halmstad-verkstan",
        decision_date=date(2026, 9, 1),
        wage_share=0.8,
        hours_per_week=30,
    ),
)


def _plan(revision: int, *steps: PlanStep) -> PlanRecorded:
    return PlanRecorded(
        request_id=f"plan-{revision}",
        personnummer=PNR,
        municipality="1380",
        programme_id="halmstad-150",
        plan=Plan(revision=revision, steps=list(steps)),
        recorded_on=date(2026, 3, 2),
        recorded_by="Viva, arbetsmarknadshandläggare",
    )


async def _offers(settings: Settings) -> list[dict[str, Any]]:
    return [e["data"] for e in await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)]


async def test_the_next_step_follows_from_the_plan_and_osa_at_the_same_partner_is_a_step(
    env: dict[str, str], settings: Settings
) -> None:
    async def step(*data: Any) -> None:
        await publish(settings, *(event(d) for d in data))
        await wait_settled(settings, services=SERVICES)

    async with running("intake", env), running("placement", env), running("outcomes", env):
        await step(programme(activities=[ActivityType.PRAKTIK, ActivityType.ARBETSTRANING]))
        await step(referral(referral_id="1380-plan", personnummer=PNR))
        await step(_plan(1, INTRO, PRAKTIK, ARBETSTRANING, OSA))
        # The verkstan has the most free places, so the queue alone would send her there.
        await step(
            agreement(
                agreement_id="kafe-1",
                partner_id="halmstad-kafe",
                places=1,
                activities=[ActivityType.PRAKTIK],
            ),
            agreement(
                agreement_id="verkstan-1",
                partner_id="halmstad-verkstan",
                places=9,
                activities=[ActivityType.PRAKTIK, ActivityType.ARBETSTRANING],
            ),
        )
        assert await _offers(settings) == []  # the introduction goes on: nothing to wait for
        done = INTRO.model_copy(
            update={"status": StepStatus.COMPLETED, "ended_on": date(2026, 3, 6)}
        )
        await step(_plan(2, done, PRAKTIK, ARBETSTRANING, OSA))
        [praktik] = await _offers(settings)
        assert (praktik["plan_step_id"], praktik["agreement_id"]) == ("praktik", "kafe-1")
        for action in (PlacementAction.ACCEPT, PlacementAction.START):
            await step(
                PlacementChangeReported(
                    placement_id=praktik["placement_id"], action=action, on=date(2026, 3, 9)
                )
            )
        await step(
            PlacementEndReported(
                placement_id=praktik["placement_id"],
                reason=EndReason.COMPLETED,
                end_date=date(2026, 4, 30),
                exits_programme=False,
            )
        )
        offers = await _offers(settings)
        [training] = [o for o in offers if o["plan_step_id"] == "arbetstraning"]
        assert (training["agreement_id"], training["hours_per_week"]) == ("verkstan-1", 8)
        for action in (PlacementAction.ACCEPT, PlacementAction.START):
            await step(
                PlacementChangeReported(
                    placement_id=training["placement_id"], action=action, on=date(2026, 5, 4)
                )
            )
        await step(
            PlacementEndReported(
                placement_id=training["placement_id"],
                reason=EndReason.MOVED_TO_WORK,
                end_date=date(2026, 8, 31),
                exits_programme=False,
            )
        )
        # Into OSA at the same partner: no new offer, and nobody waits for a place.
        assert len(await _offers(settings)) == 2
        await step(_plan(2, done, PRAKTIK, ARBETSTRANING, OSA))  # an old revision again
        employed = OSA.model_copy(
            update={"status": StepStatus.ONGOING, "started_on": date(2026, 9, 1)}
        )
        await step(_plan(3, done, PRAKTIK, ARBETSTRANING, employed))
        await step(
            ParticipationExitRecorded(
                request_id="exit-1",
                personnummer=PNR,
                municipality="1380",
                programme_id="halmstad-150",
                reason=ExitReason.FOUND_WORK,
                exited_on=date(2026, 11, 30),
                recorded_by="Viva, arbetsmarknadshandläggare",
            )
        )
    progressed = await events_on(settings, topics.PLACEMENT_EVENTS, PROGRESSED)
    *_, last = (e["data"] for e in progressed if e["data"]["change"] == "step_ended")
    assert (last["change"], last["step_id"], last["step_status"]) == (
        "step_ended",
        "arbetstraning",
        "genomfort",
    )
    assert (last["waiting_for"], last["complete"]) == ([], False)
    rejected = await events_on(settings, topics.municipality_events_topic("1380"), REJECTED)
    assert [r["data"]["reason"] for r in rejected] == ["PLAN_SUPERSEDED"]
    client = mongo_client(settings)
    try:
        db = client[settings.database_name("placement")]
        waiting = await db["waiting"].find({}).to_list()
        [plan] = await db["plans"].find({}).to_list()
    finally:
        await client.close()
    assert waiting == []
    assert [h["revision"] for h in plan["history"]] == [1, 2, 3]
    # Outcomes: the journey carries the plan's steps as they went, the OSA employment with its
    # decision and wage share, and three of four steps were walked when she left for work.
    async with outcomes_store(settings) as store:
        [journey] = await store.journeys_of("halmstad-150")
        [view] = await programme_overviews(
            store, date(2027, 1, 1), definitions=[lookup("steg_enligt_plan@1")]
        )
    assert [(s.step_id, journey.step_status(s)) for s in journey.plan_steps] == [
        ("intro", StepStatus.COMPLETED),
        ("praktik", StepStatus.COMPLETED),
        ("arbetstraning", StepStatus.COMPLETED),
        ("osa", StepStatus.ONGOING),
    ]
    [osa] = journey.subsidised_employments
    assert (osa.employment, osa.employer_id, osa.decided_on, osa.wage_share) == (
        EmploymentKind.OSA,
        "halmstad-verkstan",
        date(2026, 9, 1),
        0.8,
    )
    [row] = view.indicators
    assert (row.total.value.numerator, row.total.value.denominator) == (3, 4)


async def test_a_plan_follows_its_participant_who_moves_within_the_programme(
    env: dict[str, str], settings: Settings
) -> None:
    """Referred by Kalmar to the county's programme with a plan, the person moves to Nybro: the
    plan goes on under Nybro, which records the next revision; the progress and the offer of
    the step after the introduction reach Nybro's stream, not Kalmar's."""
    county = programme(
        programme_id="kalmar-lan",
        municipalities=["0880", "0881"],
        activities=[ActivityType.PRAKTIK],
    )
    first = PlanRecorded(
        request_id="plan-1",
        personnummer=PNR,
        municipality="0880",
        programme_id="kalmar-lan",
        plan=Plan(revision=1, steps=[INTRO, PRAKTIK.model_copy(update={"partner_id": None})]),
        recorded_on=date(2026, 4, 1),
        recorded_by="Treserva, handläggare",
    )
    done = INTRO.model_copy(update={"status": StepStatus.COMPLETED, "ended_on": date(2026, 5, 8)})
    move = ResidenceChangeRecorded(
        request_id="m-1",
        personnummer=PNR,
        municipality="0880",
        to_municipality="0881",
        moved_on=date(2026, 5, 4),
        recorded_by="Treserva, handläggare",
    )
    second = first.model_copy(
        update={
            "request_id": "plan-2",
            "municipality": "0881",
            "plan": Plan(revision=2, steps=[done, first.plan.steps[1]]),
        }
    )

    async def step(data: Any, sender: str) -> None:
        await publish(settings, event(data, sender))
        await wait_settled(settings, services=SERVICES)

    async with running("intake", env), running("placement", env), running("outcomes", env):
        await step(county, "0880")
        await step(
            referral(
                personnummer=PNR,
                referral_id="0880-1",
                municipality="0880",
                programme_id="kalmar-lan",
            ),
            "0880",
        )
        await step(first, "0880")
        # Places open while the introduction goes on: nothing is offered.
        await step(
            agreement(programme_id="kalmar-lan", places=2, activities=[ActivityType.PRAKTIK]),
            "0880",
        )
        assert await _offers(settings) == []
        await step(move, "0880")
        await step(second, "0881")
    [offer] = await _offers(settings)
    assert (offer["plan_step_id"], offer["municipality"]) == ("praktik", "0881")

    async def seen_by(kommunkod: str) -> list[str]:
        return [
            e["data"]["source_type"]
            for e in await events_on(settings, topics.municipality_events_topic(kommunkod))
            if e["type"] == "insats.resident-event.v1"
        ]

    nybro, kalmar = await seen_by("0881"), await seen_by("0880")
    assert nybro.count(PROGRESSED) == 1 and OFFERED in nybro  # the second adoption, the offer
    assert kalmar.count(PROGRESSED) == 1 and OFFERED not in kalmar  # only the first adoption
    client = mongo_client(settings)
    try:
        [plan] = await client[settings.database_name("placement")]["plans"].find({}).to_list()
    finally:
        await client.close()
    assert (plan["municipality"], plan["entry"]["municipality"]) == ("0881", "0881")
