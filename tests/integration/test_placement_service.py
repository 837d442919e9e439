"""Placement against the real broker and database: queues, priority, capacity, ends."""

from __future__ import annotations

from datetime import date

from scripts.harness import wait_settled
from shared.contracts import topics
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import PriorityRule
from shared.contracts.partner import PlacementEndReported
from shared.contracts.vocabulary import EndReason, Gender, TargetGroup
from shared.settings import Settings
from tests.support import event, events_on, publish, raw_records, running
from tests.unit.factories import agreement, programme

STARTED = "insats.placement.started.v1"
ENDED = "insats.placement.ended.v1"


def enrolled(pid: str, *, income_support: bool, referred: date) -> ParticipantEnrolled:
    return ParticipantEnrolled(
        participant_id=pid,
        referral_id=f"r-{pid}",
        programme_id="kungsbacka-iop",
        municipality="1384",
        birth_year=1990,
        age_at_referral=35,
        gender=Gender.FEMALE,
        income_support=income_support,
        target_groups=[TargetGroup.NEWLY_ARRIVED],
        referral_date=referred,
    )


async def _setup(settings: Settings, capacity: int) -> None:
    await publish(
        settings,
        event(
            programme(
                programme_id="kungsbacka-iop",
                municipalities=["1384"],
                capacity=capacity,
                priority=PriorityRule.INCOME_SUPPORT_FIRST,
            ),
            "1384",
        ),
        event(agreement(programme_id="kungsbacka-iop", places=capacity), "1384"),
    )
    await wait_settled(settings, services=["placement"])


async def test_under_contention_income_support_recipients_get_the_places_first(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=0)
        # Four wait for a programme with no places yet; those without income support came first.
        await publish(
            settings,
            *(
                event(e, "1384")
                for e in [
                    enrolled("p-early-1", income_support=False, referred=date(2026, 1, 10)),
                    enrolled("p-early-2", income_support=False, referred=date(2026, 1, 11)),
                    enrolled("p-later-1", income_support=True, referred=date(2026, 2, 10)),
                    enrolled("p-later-2", income_support=True, referred=date(2026, 2, 11)),
                ]
            ),
        )
        await wait_settled(settings, services=["placement"])
        assert await events_on(settings, topics.PLACEMENT_EVENTS, STARTED) == []
        # Two places open at once: they go to the recipients of income support.
        await _setup(settings, capacity=2)
        started = await events_on(settings, topics.PLACEMENT_EVENTS, STARTED)
        assert sorted(e["data"]["participant_id"] for e in started) == ["p-later-1", "p-later-2"]
        assert all("income-support recipient" in e["data"]["decision"] for e in started)


async def test_a_full_programme_keeps_a_waiting_list_in_priority_order(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=1)
        await publish(
            settings,
            event(enrolled("p-first", income_support=False, referred=date(2026, 1, 2)), "1384"),
        )
        await wait_settled(settings, services=["placement"])
        await publish(
            settings,
            *(
                event(e, "1384")
                for e in [
                    enrolled("p-no-support", income_support=False, referred=date(2026, 1, 5)),
                    enrolled("p-support", income_support=True, referred=date(2026, 3, 1)),
                ]
            ),
        )
        await wait_settled(settings, services=["placement"])
        [first] = await events_on(settings, topics.PLACEMENT_EVENTS, STARTED)
        assert first["data"]["participant_id"] == "p-first"

        # The place frees: the income-support recipient, referred later, is next.
        await publish(
            settings,
            event(
                PlacementEndReported(
                    placement_id=first["data"]["placement_id"],
                    participant_id="p-first",
                    reason=EndReason.MOVED_TO_WORK,
                    end_date=date(2026, 4, 1),
                ),
                "1384",
            ),
        )
        await wait_settled(settings, services=["placement"])
        started = await events_on(settings, topics.PLACEMENT_EVENTS, STARTED)
        assert [e["data"]["participant_id"] for e in started] == ["p-first", "p-support"]
        assert started[1]["data"]["start_date"] == "2026-04-01"
        [ended] = await events_on(settings, topics.PLACEMENT_EVENTS, ENDED)
        assert ended["data"]["reason"] == "till_arbete"


async def test_an_end_that_cannot_apply_is_refused_and_dead_lettered(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=1)
        await publish(
            settings,
            event(
                PlacementEndReported(
                    placement_id="pl-does-not-exist",
                    participant_id="p-x",
                    reason=EndReason.COMPLETED,
                    end_date=date(2026, 4, 1),
                ),
                "1384",
            ),
        )
        await wait_settled(settings, services=["placement"])
    assert await events_on(settings, topics.PLACEMENT_EVENTS, ENDED) == []
    [(_, _, headers)] = await raw_records(settings, topics.dead_letter_topic("placement"))
    assert headers["insats-dlq-code"] == b"PLACEMENT_END_REFUSED"
    assert b"unknown placement" in headers["insats-dlq-reason"]
