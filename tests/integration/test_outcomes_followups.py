"""Follow-ups against the real broker and database: scheduled at exit, announced when due (once,
atomically with being marked), answered, and overdue when no answer comes."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import pytest

from scripts.harness import wait_settled
from services.outcomes import handlers as outcomes_handlers
from services.outcomes.handlers import FollowUpAnnouncer, FollowUpsChanged
from services.outcomes.reports import programme_overviews
from services.outcomes.store import OutcomesStore, follow_ups_scheduled
from shared.contracts import topics
from shared.contracts.envelope import derive_event_id
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import OutcomeReported, ProgrammeDefined
from shared.contracts.outcomes import FollowUpDue
from shared.contracts.placement import PlacementEnded
from shared.contracts.vocabulary import (
    FollowUpPoint,
    OutcomeStatus,
)
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings
from tests.support import event, events_on, publish, running
from tests.unit.factories import outcome_reported, participant_enrolled, placement_ended, programme

F = FollowUpPoint
EXIT_DAY = date(2026, 3, 6)  # a Friday; four weeks on is Good Friday
TODAY = date(2026, 6, 9)
KALMAR = programme(programme_id="kalmar", municipalities=["0880"])
HALMSTAD = programme(
    programme_id="halmstad", municipalities=["1380"], follow_ups=[F.AT_EXIT, F.MONTHS_6]
)


def _enrolled(pid: str, prog: ProgrammeDefined) -> ParticipantEnrolled:
    return participant_enrolled(
        pid,
        programme_id=prog.programme_id,
        municipality=prog.municipalities[0],
        referral_date=date(2026, 1, 10),
    )


def _exit(pid: str, prog: ProgrammeDefined) -> PlacementEnded:
    return placement_ended(
        pid,
        programme_id=prog.programme_id,
        partner_id="partner",
        municipality=prog.municipalities[0],
        start_date=date(2026, 1, 20),
        end_date=EXIT_DAY,
    )


def _answer(pid: str, point: FollowUpPoint) -> OutcomeReported:
    return outcome_reported(
        pid,
        report_id=f"{pid}-{point.value}",
        programme_id="kalmar",
        municipality="0880",
        follow_up=point,
        status=OutcomeStatus.STUDIES,
        observed_on=EXIT_DAY,
    )


# The announcements themselves, not their copies on the municipalities' own streams.
_ON_OUTCOMES_TOPIC = {"topic": {"$regex": "insats\\.outcomes\\.events$"}}


async def _eventually(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.2)


@pytest.fixture
def clock_at_today(monkeypatch: pytest.MonkeyPatch) -> None:
    # The service reads its own settings from the environment, as its process would.
    monkeypatch.setenv("INSATS_TODAY", TODAY.isoformat())
    monkeypatch.setenv("INSATS_OUTCOMES_FOLLOW_UP_CHECK_SECONDS", "0.3")


@pytest.mark.usefixtures("clock_at_today")
async def test_due_follow_ups_are_announced_once_and_unanswered_ones_become_overdue(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("outcomes", env):
        await publish(
            settings,
            event(KALMAR, "0880"),
            event(HALMSTAD, "1380"),
            event(_enrolled("p1", KALMAR), "0880"),
            event(_enrolled("p2", HALMSTAD), "1380"),
            event(_answer("p1", F.AT_EXIT), "0880"),
        )
        # The answer at exit is in before the exit itself: an answer still on its way when a
        # follow-up falls due does not stop the announcement (topics are read side by side).
        await wait_settled(settings, services=["outcomes"])
        await publish(
            settings, event(_exit("p1", KALMAR), "0880"), event(_exit("p2", HALMSTAD), "1380")
        )
        await wait_settled(settings, services=["outcomes"])

        async def announced() -> list[dict[str, Any]]:
            found = await events_on(settings, topics.OUTCOMES_EVENTS, FollowUpDue.TYPE)
            return found if len(found) >= 3 else []

        due = await _eventually(announced)
        # p1's answer at exit came first; its 4-week and 3-month follow-ups are due (7 April
        # after Easter, 8 June after the National Day); Halmstad asks only at exit and at 6 months.
        assert sorted(
            (d["data"]["participant_id"], d["data"]["follow_up"], d["data"]["due_date"])
            for d in due
        ) == [
            ("p1", "3_manader", "2026-06-08"),
            ("p1", "4_veckor", "2026-04-07"),
            ("p2", "vid_avslut", "2026-03-06"),
        ]
        assert all(d["subject"] == d["data"]["participant_id"] for d in due)
        assert {d["data"]["exit_date"] for d in due} == {"2026-03-06"}

        await publish(settings, event(_answer("p1", F.WEEKS_4), "0880"))
        await wait_settled(settings, services=["outcomes"])

    client = mongo_client(settings)
    try:
        db = ServiceDatabase(client, settings, "outcomes")
        store = OutcomesStore(db)
        views = {v.programme.programme_id: v for v in await programme_overviews(store, TODAY)}
        overdue = {
            pid: [(f.participant_id, f.point) for f in view.overdue_follow_ups]
            for pid, view in views.items()
        }
        # Four weeks answered; three months (due yesterday) not; Halmstad's p2 not at all.
        assert overdue == {"kalmar": [("p1", F.MONTHS_3)], "halmstad": [("p2", F.AT_EXIT)]}
        # Announced follow-ups are not announced again, however often the task runs.
        assert await FollowUpAnnouncer(db, store, lambda: TODAY).announce_due() == 0
    finally:
        await client.close()
    assert len(await events_on(settings, topics.OUTCOMES_EVENTS, FollowUpDue.TYPE)) == 3


async def _scheduled(settings: Settings, participants: int) -> tuple[Any, ServiceDatabase]:
    client = mongo_client(settings)
    db = ServiceDatabase(client, settings, "outcomes")
    store = OutcomesStore(db)
    await store.ensure_indexes()

    async def schedule(tx: Any) -> None:
        await store.save_programmes([(KALMAR, "municipality:0880")], tx.session)
        for i in range(participants):
            await store.apply_follow_ups(follow_ups_scheduled(_exit(f"p{i}", KALMAR)), tx.session)

    await db.in_transaction(schedule)
    return client, db


async def test_announcing_and_marking_a_follow_up_commit_together_or_not_at_all(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, db = await _scheduled(settings, participants=3)
    store = OutcomesStore(db)
    try:
        original = outcomes_handlers.follow_up_due_event

        def fail_on_p1(follow_up: Any) -> FollowUpDue:
            if follow_up.participant_id == "p1":
                raise RuntimeError("crash while staging p1's announcement")
            return original(follow_up)

        monkeypatch.setattr(outcomes_handlers, "follow_up_due_event", fail_on_p1)
        with pytest.raises(RuntimeError, match="crash"):
            await FollowUpAnnouncer(db, store, lambda: TODAY).announce_due()
        # All were marked before the crash; the marks rolled back with the outbox records.
        assert await store.follow_ups.count_documents({"emitted": True}) == 0
        assert await db.outbox.count_documents({}) == 0

        monkeypatch.setattr(outcomes_handlers, "follow_up_due_event", original)
        # Three participants x (at exit, 4 weeks, 3 months) have fallen due by 9 June.
        assert await FollowUpAnnouncer(db, store, lambda: TODAY).announce_due() == 9
        assert await store.follow_ups.count_documents({"emitted": True}) == 9
        ids = {doc["headers"][1][1] async for doc in db.outbox.find(_ON_OUTCOMES_TOPIC)}
        assert ids == {
            str(derive_event_id(f"kalmar:p{i}:{p.value}", FollowUpDue.TYPE)).encode()
            for i in range(3)
            for p in (F.AT_EXIT, F.WEEKS_4, F.MONTHS_3)
        }
    finally:
        await client.close()


async def test_two_replicas_announcing_at_once_announce_each_follow_up_once(
    settings: Settings,
) -> None:
    client, db = await _scheduled(settings, participants=4)
    store = OutcomesStore(db)
    try:
        replicas = [FollowUpAnnouncer(db, store, lambda: TODAY, batch=5) for _ in range(2)]
        results = await asyncio.gather(
            *(r.announce_due() for r in replicas), return_exceptions=True
        )
        # A replica that lost a race gives up its round (the next round finds nothing).
        assert all(isinstance(r, int | FollowUpsChanged) for r in results), results
        for replica in replicas:
            await replica.announce_due()
        headers = [doc["headers"][1][1] async for doc in db.outbox.find(_ON_OUTCOMES_TOPIC)]
        assert len(headers) == len(set(headers)) == 12
    finally:
        await client.close()
