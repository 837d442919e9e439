"""Priority that holds under contention, on the real broker and database with intake and
placement running: the Kungsbacka rule (income-support recipients first, others "i mån av
plats") under a burst of referrals split across partitions and batches, allocation rounds at set
times with an injected clock, and places held for the group until their time runs out."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scripts.harness import wait_settled
from scripts.placement_cli import serving_order
from services.intake.personnummer import format_with_check
from services.placement.domain import priority_class
from shared.contracts import topics
from shared.contracts.envelope import new_event
from shared.contracts.municipal import (
    AgreementKind,
    Allocation,
    AllocationMode,
    AllocationRoundRequested,
    PriorityRule,
    ProgrammeDefined,
    Reservation,
    Weekday,
)
from shared.settings import Settings
from tests.support import event, events_on, publish, running
from tests.unit.factories import agreement, programme, referral

KUNGSBACKA = "1384"


def _kungsbacka(**changes: Any) -> ProgrammeDefined:
    values: dict[str, Any] = {
        "programme_id": "kungsbacka-iop",
        "municipalities": [KUNGSBACKA],
        "capacity": 10,
        "priority": PriorityRule.INCOME_SUPPORT_FIRST,
    }
    return programme(**{**values, **changes})


def _referral(referral_id: str, born: date, serial: int, support: bool, referred: date) -> Any:
    return referral(
        referral_id=referral_id,
        personnummer=format_with_check(born, serial),
        municipality=KUNGSBACKA,
        programme_id="kungsbacka-iop",
        income_support=support,
        referral_date=referred,
    )


def _the_burst() -> tuple[list[Any], list[str], list[str]]:
    """20 referrals without income support (1-20 October) and 10 with (1-10 November),
    shuffled: the referral ids of each group in referral-date order."""
    without = [
        _referral(f"1384-o{n:02d}", date(1980, 1, n), 100 + n, False, date(2026, 10, n))
        for n in range(1, 21)
    ]
    with_support = [
        _referral(f"1384-f{n:02d}", date(1985, 2, n), 300 + n, True, date(2026, 11, n))
        for n in range(1, 11)
    ]
    burst = without + with_support
    random.Random(21).shuffle(burst)
    return (
        [event(r, municipality=KUNGSBACKA) for r in burst],
        [r.referral_id for r in with_support],
        [r.referral_id for r in without],
    )


async def _offered_referrals(settings: Settings) -> list[str]:
    """The referral ids offered a place, in the order the offers were made."""
    by_participant = {
        e["data"]["participant_id"]: e["data"]["referral_id"]
        for e in await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    }
    offers = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
    ordered = sorted(offers, key=lambda o: (o["data"]["queue_position"], o["time"]))
    return [by_participant[o["data"]["participant_id"]] for o in ordered]


async def _settled_and_allocated(settings: Settings) -> None:
    """Everything applied, the settle time past, and what it offered applied too."""
    await wait_settled(settings, services=["intake", "placement"])
    await asyncio.sleep(3)
    await wait_settled(settings, services=["intake", "placement"])


async def _set_up(settings: Settings, definition: ProgrammeDefined, places: int = 10) -> None:
    await publish(
        settings,
        event(definition, municipality=KUNGSBACKA),
        event(
            agreement(
                agreement_id="erikshjalpen-1",
                partner_id="erikshjalpen",
                programme_id="kungsbacka-iop",
                places=places,
                kind=AgreementKind.SOCIAL_CLAUSE,
            ),
            municipality=KUNGSBACKA,
        ),
    )
    await wait_settled(settings, services=["intake", "placement"])


async def test_a_burst_across_partitions_and_batches_gives_the_places_by_priority(
    env: dict[str, str], settings: Settings
) -> None:
    # Batches of four records over three partitions: the burst reaches placement in pieces.
    small = {**env, "INSATS_BATCH_MAX_RECORDS": "4"}
    burst, with_support, _ = _the_burst()
    settle = Allocation(mode=AllocationMode.IMMEDIATE, settle_seconds=3)
    async with running("intake", small), running("placement", small):
        await _set_up(settings, _kungsbacka(allocation=settle))
        await publish(settings, *burst)
        await _settled_and_allocated(settings)
    offered = await _offered_referrals(settings)
    assert offered == with_support  # the ten income-support recipients, by referral date
    offers = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
    assert {o["data"]["priority_class"] for o in offers} == {"forsorjningsstod"}
    assert {o["data"]["ranked_by"] for o in offers} == {"forsorjningsstod_forst"}
    # The rest wait, and `insats placement queue` shows them in the order they will be served.
    definition, waiting = await serving_order(settings, "kungsbacka-iop", 100)
    assert definition is not None
    assert [e.referral_date for e in waiting] == [date(2026, 10, n) for n in range(1, 21)]
    assert {priority_class(e, definition.priority) for e in waiting} == {"ovriga"}


class Clock:
    """What placement's allocation job takes for now: moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_round_based_programme_offers_nothing_before_the_round_then_by_priority(
    env: dict[str, str], settings: Settings
) -> None:
    monday_morning = datetime(2026, 11, 23, 6, 59, tzinfo=UTC)  # 07:59 in Sweden
    clock = Clock(monday_morning)
    weekly = Allocation(mode=AllocationMode.ROUNDS, weekdays=[Weekday.MONDAY], at="08:00")
    burst, with_support, without = _the_burst()
    fast = {**env, "INSATS_ALLOCATION_CHECK_SECONDS": "0.2"}
    async with running("intake", fast), running("placement", fast, clock=clock):
        clock.now = monday_morning - timedelta(days=7, minutes=-2)  # last week's round held
        await _set_up(settings, _kungsbacka(allocation=weekly))
        await asyncio.sleep(1)
        clock.now = monday_morning
        await publish(settings, *burst)
        await wait_settled(settings, services=["intake", "placement"])
        await asyncio.sleep(1)
        before = await _offered_referrals(settings)
        clock.now = monday_morning + timedelta(minutes=2)  # 08:01: the round has come
        await asyncio.sleep(1)
        await wait_settled(settings, services=["intake", "placement"])
        await asyncio.sleep(1)  # the job runs again: the same round is not held twice
        await wait_settled(settings, services=["intake", "placement"])
    assert before == []
    offered = await _offered_referrals(settings)
    assert offered == with_support
    offers = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
    assert {o["data"]["round_id"] for o in offers} == {"kungsbacka-iop@2026-11-23T08:00:00+01:00"}
    assert {o["data"]["offered_on"] for o in offers} == {"2026-11-23"}
    assert len(without) == 20


async def test_the_owner_can_hold_a_round_when_its_allocation_meeting_is(
    env: dict[str, str], settings: Settings
) -> None:
    weekly = Allocation(mode=AllocationMode.ROUNDS, weekdays=[Weekday.MONDAY], at="08:00")
    burst, with_support, _ = _the_burst()
    rounds_off = {**env, "INSATS_ALLOCATION_SCHEDULED_ROUNDS": "false"}
    async with running("intake", rounds_off), running("placement", rounds_off):
        await _set_up(settings, _kungsbacka(allocation=weekly))
        await publish(settings, *burst)
        await wait_settled(settings, services=["intake", "placement"])
        assert await _offered_referrals(settings) == []
        request = AllocationRoundRequested(
            programme_id="kungsbacka-iop", on=date(2026, 11, 25), requested_by="AME Kungsbacka"
        )
        await publish(
            settings, new_event(request, source="urn:kommun:1384", municipality=KUNGSBACKA)
        )
        await wait_settled(settings, services=["intake", "placement"])
    assert await _offered_referrals(settings) == with_support


async def test_held_places_stay_free_for_income_support_recipients_until_their_time_runs_out(
    env: dict[str, str], settings: Settings
) -> None:
    held = _kungsbacka(
        priority=PriorityRule.REFERRAL_DATE,
        capacity=10,
        reserved=Reservation(places=8, days=30),
        allocation=Allocation(settle_seconds=2),  # each burst allocated as one
    )

    def without(n: int, referred: date) -> Any:
        data = _referral(f"1384-w{n}", date(1975, 3, n), 500 + n, False, referred)
        return event(data, municipality=KUNGSBACKA)

    async with running("intake", env), running("placement", env):
        await _set_up(settings, held)
        await publish(settings, *(without(n, date(2026, 10, n)) for n in range(1, 6)))
        await _settled_and_allocated(settings)
        early = await _offered_referrals(settings)
        # Thirty days on, the held places open: the next change offers them to whoever waits.
        await publish(settings, without(6, date(2026, 11, 4)))
        await _settled_and_allocated(settings)
    assert sorted(early) == ["1384-w1", "1384-w2"]  # 10 places, 8 held for the group
    later = await _offered_referrals(settings)
    assert sorted(later) == [f"1384-w{n}" for n in range(1, 7)]
