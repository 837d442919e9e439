"""Outcomes against the real broker and database: journeys and the programme report."""

from __future__ import annotations

from datetime import date

from scripts.harness import wait_settled
from services.outcomes.domain import in_sysselsattning
from shared.contracts import topics
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import OutcomeReported
from shared.contracts.placement import (
    PlacementChanged,
    PlacementEnded,
    PlacementStarted,
    SupportTaskOpened,
)
from shared.contracts.vocabulary import (
    ActivityType,
    Gender,
    OutcomeStatus,
    PlacementStatus,
    SupportTaskReason,
)
from shared.settings import Settings
from tests.support import event, events_on, outcomes_store, publish, running
from tests.unit.factories import (
    outcome_reported,
    participant_enrolled,
    placement_ended,
    placement_started,
    programme,
)


def _enrolled(pid: str) -> ParticipantEnrolled:
    return participant_enrolled(
        pid,
        programme_id="kalmar",
        municipality="0880",
        gender=Gender.MALE,
        income_support=False,
        referral_date=date(2026, 2, 1),
    )


def _started(pid: str) -> PlacementStarted:
    return placement_started(
        pid,
        programme_id="kalmar",
        partner_id="kalejdo",
        agreement_id="a",
        activity=ActivityType.COACHING,
        municipality="0880",
        start_date=date(2026, 2, 10),
        waited_days=9,
        decision="test",
    )


def _ended(pid: str) -> PlacementEnded:
    return placement_ended(
        pid,
        programme_id="kalmar",
        partner_id="kalejdo",
        municipality="0880",
        start_date=date(2026, 2, 10),
        end_date=date(2026, 6, 1),
    )


def _outcome(pid: str, status: OutcomeStatus) -> OutcomeReported:
    return outcome_reported(
        pid,
        programme_id="kalmar",
        municipality="0880",
        status=status,
        income_support=False,
        observed_on=date(2026, 6, 1),
    )


async def test_the_read_model_holds_who_was_reached_placed_and_exited_and_their_status(
    env: dict[str, str], settings: Settings
) -> None:
    kalmar = programme(
        programme_id="kalmar",
        municipalities=["0880"],
        planned_participants=418,
        goal_sysselsattning=0.6,
    )
    async with running("outcomes", env):
        # Published out of causal order on purpose: the read model must not depend on it.
        await publish(
            settings,
            event(_outcome("p1", OutcomeStatus.STUDIES), "0880"),
            event(_ended("p1"), "0880"),
            event(_outcome("p2", OutcomeStatus.JOB_SEEKING), "0880"),
            event(_ended("p2"), "0880"),
            *(event(_started(p), "0880") for p in ("p1", "p2", "p3")),
            *(event(_enrolled(p), "0880") for p in ("p1", "p2", "p3", "p4")),
            event(kalmar, "0880"),
        )
        await wait_settled(settings, services=["outcomes"])
    async with outcomes_store(settings) as store:
        [defined] = await store.programme_definitions()
        reached = [j for j in await store.journeys_of("kalmar") if j.enrolled]
    exited = [j for j in reached if j.exited]
    assert defined.planned_participants == 418
    placed = sum(1 for j in reached if j.first_placement is not None)
    assert (len(reached), placed, len(exited)) == (4, 3, 2)
    # The share and the goal are the indicators' rules (tests/unit/test_outcome_indicators.py).
    assert [
        j.participant_id
        for j in exited
        if j.status_at_exit is not None and in_sysselsattning(j.status_at_exit)
    ] == ["p1"]
    recorded = await events_on(settings, topics.OUTCOMES_EVENTS, "insats.outcome.recorded.v1")
    assert sorted(
        (e["data"]["participant_id"], e["data"]["in_sysselsattning"]) for e in recorded
    ) == [("p1", True), ("p2", False)]


async def test_a_support_task_after_the_exit_puts_the_journey_among_those_with_support(
    env: dict[str, str], settings: Settings
) -> None:
    """Placement's support tasks reach the journeys, once each (a task seen twice is one), and
    say who had support after leaving: the breakdown of who stays in work."""

    def task(pid: str, task_id: str, opened_on: date) -> SupportTaskOpened:
        return SupportTaskOpened(
            task_id=task_id,
            placement_id=f"pl-{pid}",
            participant_id=pid,
            programme_id="kalmar",
            partner_id="kalejdo",
            municipality="0880",
            reason=SupportTaskReason.NEEDS_SUPPORT,
            owner="Kommunens handläggare",
            opened_on=opened_on,
            due_date=opened_on,
        )

    async with running("outcomes", env):
        await publish(
            settings,
            event(programme(programme_id="kalmar", municipalities=["0880"]), "0880"),
            *(event(_enrolled(p), "0880") for p in ("p1", "p2")),
            *(event(_started(p), "0880") for p in ("p1", "p2")),
            *(event(_ended(p), "0880") for p in ("p1", "p2")),
            event(task("p1", "t-1", date(2026, 6, 20)), "0880"),
            event(task("p1", "t-1", date(2026, 6, 20)), "0880"),
            event(task("p2", "t-2", date(2026, 5, 2)), "0880"),  # during the placement
        )
        await wait_settled(settings, services=["outcomes"])
    async with outcomes_store(settings) as store:
        journeys = {j.participant_id: j for j in await store.journeys_of("kalmar")}
    assert journeys["p1"].support_tasks == (date(2026, 6, 20),)
    assert journeys["p1"].supported_after_exit
    assert journeys["p2"].support_tasks == (date(2026, 5, 2),)
    assert not journeys["p2"].supported_after_exit


async def test_each_start_and_change_of_hours_is_in_the_journey(
    env: dict[str, str], settings: Settings
) -> None:
    """Helsingborg's path in hours: 8 a week at the start, 12, then 30, one change reported
    twice; other changes of the placement are not hours."""

    def changed(change: str, on: date, hours: int | None) -> PlacementChanged:
        return PlacementChanged(
            placement_id="pl-p1",
            participant_id="p1",
            programme_id="kalmar",
            partner_id="kalejdo",
            municipality="0880",
            status=PlacementStatus.STARTED,
            change=change,
            on=on,
            hours_per_week=hours,
        )

    async with running("outcomes", env):
        await publish(
            settings,
            event(programme(programme_id="kalmar", municipalities=["0880"]), "0880"),
            event(_enrolled("p1"), "0880"),
            event(_started("p1").model_copy(update={"hours_per_week": 8}), "0880"),
            event(changed("hours_changed", date(2026, 3, 10), 12), "0880"),
            event(changed("paused", date(2026, 4, 1), 12), "0880"),
            event(changed("hours_changed", date(2026, 5, 4), 30), "0880"),
            event(changed("hours_changed", date(2026, 5, 4), 30), "0880"),
        )
        await wait_settled(settings, services=["outcomes"])
    async with outcomes_store(settings) as store:
        [journey] = await store.journeys_of("kalmar")
    assert journey.hours == (
        (date(2026, 2, 10), 8),
        (date(2026, 3, 10), 12),
        (date(2026, 5, 4), 30),
    )
