"""Placement against the real broker and database: queues and priority, IOP vetting, the
placement lifecycle, attendance risks, support check-ins and each partner's own stream."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from scripts.harness import wait_settled
from shared.contracts import topics
from shared.contracts.intake import (
    ConsentChanged,
    ParticipantEnrolled,
    ParticipantErased,
    ProtectedIdentityChanged,
)
from shared.contracts.municipal import (
    AgreementKind,
    Contribution,
    ContributionKind,
    CriterionAssessment,
    PartnerRegistered,
    PartnerVetted,
    PriorityRule,
    Workplace,
)
from shared.contracts.partner import (
    Absence,
    AttendanceReported,
    PlacementChangeReported,
    PlacementEndReported,
    SupportCheckInReported,
    SupportTaskClosedReported,
)
from shared.contracts.vocabulary import (
    AbsenceReason,
    ActivityType,
    CheckInStatus,
    ConsentPurpose,
    EndReason,
    ErasureReason,
    IopCriterion,
    PartnerKind,
    PlacementAction,
    TargetGroup,
)
from shared.luhn import organisationsnummer
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import (
    event,
    events_on,
    municipality_sees,
    partner_sees,
    publish,
    raw_records,
    running,
)
from tests.unit.factories import agreement, participant_enrolled, programme

OFFERED = "insats.placement.offered.v1"
STARTED = "insats.placement.started.v1"
ENDED = "insats.placement.ended.v1"
CHANGED = "insats.placement.changed.v1"
PARTNER_VIEW = "insats.partner-placement.updated.v1"
PROGRAMME = "kungsbacka-iop"
PARTNER = "erikshjalpen"


def enrolled(
    pid: str,
    *,
    income_support: bool = True,
    referred: date = date(2026, 2, 1),
    consents: list[ConsentPurpose] | None = None,
    protected_identity: bool = False,
) -> ParticipantEnrolled:
    return participant_enrolled(
        pid,
        programme_id=PROGRAMME,
        municipality="1384",
        income_support=income_support,
        target_groups=[TargetGroup.NEWLY_ARRIVED],
        referral_date=referred,
        consents=consents or [],
        protected_identity=protected_identity,
    )


def partner(number: str = organisationsnummer("802011111")) -> PartnerRegistered:
    return PartnerRegistered(
        partner_id=PARTNER,
        organisationsnummer=number,
        name="Erikshjälpen Second Hand",
        kind=PartnerKind.IOP_NON_PROFIT,
        municipality="1384",
        workplaces=[
            Workplace(
                workplace_id="butiken",
                name="Butiken i Kungsbacka",
                municipality="1384",
                activities=[ActivityType.ARBETSTRANING],
            )
        ],
    )


def iop_agreement(places: int) -> Any:
    return agreement(
        programme_id=PROGRAMME,
        partner_id=PARTNER,
        places=places,
        kind=AgreementKind.IOP,
        parties=["Kungsbacka kommun", "Erikshjälpen"],
        workplace_id="butiken",
        hours_per_week=20,
        municipal_contact="Arbetsmarknadsenheten, jobbcoach",
        evaluation_plan="Halvårsvis, gemensamt",
        contributions=[
            Contribution(party="Kungsbacka kommun", kind=ContributionKind.STAFF_HOURS, amount=800),
            Contribution(
                party="Erikshjälpen",
                kind=ContributionKind.PREMISES,
                amount=120,
                description="butik",
            ),
        ],
    )


def vetting(*, leave_out: tuple[IopCriterion, ...] = ()) -> PartnerVetted:
    return PartnerVetted(
        partner_id=PARTNER,
        assessed_by="Kungsbacka, Gymnasium & Arbetsmarknad",
        assessments=[
            CriterionAssessment(criterion=c, met=True, assessed_on=date(2026, 1, 10))
            for c in IopCriterion
            if c not in leave_out
        ],
    )


async def _setup(
    settings: Settings, capacity: int, *, vetted: bool = True, **definition: Any
) -> None:
    events = [
        event(
            programme(
                programme_id=PROGRAMME,
                municipalities=["1384"],
                capacity=capacity,
                priority=PriorityRule.INCOME_SUPPORT_FIRST,
                **definition,
            ),
            "1384",
        ),
        event(partner(), "1384"),
    ]
    if vetted:
        events.append(event(vetting(), "1384"))
    events.append(event(iop_agreement(places=max(capacity, 1)), "1384"))
    await publish(settings, *events)
    await wait_settled(settings, services=["placement"])


async def _step(settings: Settings, *reports: Any) -> None:
    await publish(settings, *(event(r, "1384") for r in reports))
    await wait_settled(settings, services=["placement"])


async def _one_place_offered_to_p1(
    settings: Settings, consents: list[ConsentPurpose] | None = None
) -> dict[str, Any]:
    """A programme with one place, p-1 enrolled: the offer p-1 gets."""
    await _setup(settings, capacity=1)
    await _step(settings, enrolled("p-1", consents=consents))
    [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
    return offer


async def _offers_by_participant(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        o["data"]["participant_id"]: o["data"]
        for o in await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
    }


def _change(
    offer: dict[str, Any], action: PlacementAction, on: date, **extra: Any
) -> PlacementChangeReported:
    return PlacementChangeReported(
        placement_id=offer["data"]["placement_id"],
        participant_id=offer["data"]["participant_id"],
        action=action,
        on=on,
        **extra,
    )


async def test_under_contention_income_support_recipients_are_offered_the_places_first(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=0)
        await _step(
            settings,
            *(
                enrolled("p-early-1", income_support=False, referred=date(2026, 1, 10)),
                enrolled("p-early-2", income_support=False, referred=date(2026, 1, 11)),
                enrolled("p-later-1", income_support=True, referred=date(2026, 2, 10)),
                enrolled("p-later-2", income_support=True, referred=date(2026, 2, 11)),
            ),
        )
        assert await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED) == []
        await _setup(settings, capacity=2)  # two places open at once
    offers = await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
    assert sorted(e["data"]["participant_id"] for e in offers) == ["p-later-1", "p-later-2"]
    assert all("income-support recipient" in e["data"]["decision"] for e in offers)


async def test_a_partner_lacking_a_criterion_gets_no_iop_placements_and_is_told_which(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=2, vetted=False)
        await _step(settings, vetting(leave_out=(IopCriterion.NO_TAX_DEBTS,)))
        await _step(settings, enrolled("p-1"))
        assert await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED) == []
        refusals = await events_on(
            settings, topics.PLACEMENT_EVENTS, "insats.partner.not-eligible.v1"
        )
        assert refusals[-1]["data"]["missing_criteria"] == ["inga_skatteskulder"]
        # The last criterion is assessed and met: the waiting participant is offered the place.
        await _step(
            settings,
            PartnerVetted(
                partner_id=PARTNER,
                assessed_by="Kungsbacka",
                assessments=[
                    CriterionAssessment(
                        criterion=IopCriterion.NO_TAX_DEBTS, met=True, assessed_on=date(2026, 2, 1)
                    )
                ],
            ),
        )
    [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
    assert offer["data"]["participant_id"] == "p-1"


async def test_an_invalid_organisationsnummer_is_refused(
    env: dict[str, str], settings: Settings
) -> None:
    valid = organisationsnummer("802011111")
    async with running("placement", env):
        await _step(settings, partner(number=valid[:-1] + str((int(valid[-1]) + 1) % 10)))
    [(_, _, headers)] = await raw_records(settings, topics.dead_letter_topic("placement"))
    assert headers["insats-dlq-code"] == b"INVALID_ORGANISATIONSNUMMER"


async def test_the_lifecycle_runs_from_offer_to_end_and_frees_the_place_for_the_next(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=1)
        await _step(settings, enrolled("p-first", referred=date(2026, 1, 2)))
        await _step(settings, enrolled("p-next", referred=date(2026, 1, 5)))
        [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
        assert offer["data"]["hours_per_week"] == 20
        await _step(settings, _change(offer, PlacementAction.ACCEPT, date(2026, 1, 8)))
        await _step(settings, _change(offer, PlacementAction.START, date(2026, 1, 12)))
        await _step(
            settings, _change(offer, PlacementAction.PAUSE, date(2026, 2, 1), reason="sjuk")
        )
        await _step(settings, _change(offer, PlacementAction.RESUME, date(2026, 2, 15)))
        await _step(
            settings,
            _change(offer, PlacementAction.CHANGE_HOURS, date(2026, 3, 1), hours_per_week=30),
        )
        await _step(
            settings,
            PlacementEndReported(
                placement_id=offer["data"]["placement_id"],
                participant_id="p-first",
                reason=EndReason.MOVED_TO_WORK,
                end_date=date(2026, 4, 1),
            ),
        )
    changes = [
        e["data"]["change"]
        for e in await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.changed.v1")
    ]
    assert changes == ["accepted", "paused", "resumed", "hours_changed"]
    [started] = await events_on(settings, topics.PLACEMENT_EVENTS, STARTED)
    assert started["data"]["start_date"] == "2026-01-12"
    [ended] = await events_on(settings, topics.PLACEMENT_EVENTS, ENDED)
    assert (ended["data"]["reason"], ended["data"]["start_date"]) == ("till_arbete", "2026-01-12")
    offers = await _offers_by_participant(settings)
    assert set(offers) == {"p-first", "p-next"}
    assert offers["p-next"]["offered_on"] == "2026-04-01"  # the day the place was freed


async def test_an_illegal_transition_is_refused_and_dead_lettered_never_applied(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        offer = await _one_place_offered_to_p1(settings)
        await _step(
            settings,
            PlacementEndReported(
                placement_id=offer["data"]["placement_id"],
                participant_id="p-1",
                reason=EndReason.COMPLETED,
                end_date=date(2026, 4, 1),
            ),
        )
        await _step(settings, _change(offer, PlacementAction.RESUME, date(2026, 3, 1)))
    assert await events_on(settings, topics.PLACEMENT_EVENTS, ENDED) == []
    letters = await raw_records(settings, topics.dead_letter_topic("placement"))
    assert [h["insats-dlq-code"] for _, _, h in letters] == [b"ILLEGAL_TRANSITION"] * 2
    assert b"cannot end a placement that is erbjuden" in letters[0][2]["insats-dlq-reason"]


async def test_a_declined_offer_goes_to_the_next_in_line(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=1)
        await _step(settings, enrolled("p-1", referred=date(2026, 1, 2)))
        await _step(settings, enrolled("p-2", referred=date(2026, 1, 3)))
        [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
        await _step(
            settings, _change(offer, PlacementAction.DECLINE, date(2026, 2, 1), reason="vill annat")
        )
    offers = await _offers_by_participant(settings)
    assert set(offers) == {"p-1", "p-2"}
    assert offers["p-2"]["offered_on"] == "2026-02-01"


async def test_an_offer_not_answered_in_time_expires_and_its_place_goes_to_the_next_in_line(
    env: dict[str, str], settings: Settings
) -> None:
    def on(day: date) -> dict[str, str]:
        return {**env, "INSATS_TODAY": day.isoformat(), "INSATS_DUE_CHECK_SECONDS": "0.3"}

    # 5 January: p-1 (referred first) is offered the place, with seven days to answer; p-2 waits.
    async with running("placement", on(date(2026, 1, 5))):
        await _setup(settings, capacity=1, offer_response_days=7)
        await _step(
            settings,
            enrolled("p-1", referred=date(2026, 1, 2)),
            enrolled("p-2", referred=date(2026, 1, 3)),
        )
        await asyncio.sleep(1.0)  # the job runs: the offer is in time
        assert await _expired(settings) == []
    # The 12th is still in time; on the 13th it has expired.
    async with running("placement", on(date(2026, 1, 12))):
        await asyncio.sleep(1.0)
        assert await _expired(settings) == []
    async with running("placement", on(date(2026, 1, 13))):
        deadline = asyncio.get_running_loop().time() + 30
        while not await _expired(settings):
            assert asyncio.get_running_loop().time() < deadline, "no offer expired"
            await asyncio.sleep(0.3)
        await wait_settled(settings, services=["placement"])
        await asyncio.sleep(1.5)  # the job runs again, several times: nothing expires twice
        await wait_settled(settings, services=["placement"])
        [expired] = await _expired(settings)
        offers = await _offers_by_participant(settings)
        partner_stream = await events_on(
            settings, topics.partner_placements_topic(PARTNER), PARTNER_VIEW
        )
        municipality_stream = await events_on(settings, topics.municipality_events_topic("1384"))
        client = mongo_client(settings)
        try:
            waiting = await client[settings.database_name("placement")]["waiting"].find_one(
                {"participant_id": "p-1"}
            )
        finally:
            await client.close()
    assert expired["data"]["participant_id"] == "p-1"
    assert (expired["data"]["status"], expired["data"]["on"]) == ("avbojd", "2026-01-13")
    # The place went to the next in line at once, offered as of the day it was freed.
    assert offers["p-2"]["offered_on"] == "2026-01-13"
    assert [o["data"]["participant_id"] for o in await _offers(settings)] == ["p-1", "p-2"]
    # The partner's stream says the offer is gone, and so does the municipality's.
    assert [
        u["data"]["status"]
        for u in partner_stream
        if u["data"]["placement_id"] == expired["data"]["placement_id"]
    ] == ["erbjuden", "avbojd"]
    [told] = [
        view["data"]["facts"]
        for view in municipality_stream
        if view["data"]["source_event_id"] == expired["id"]
    ]
    assert (told["change"], told["participant_id"]) == (
        "expired",
        municipality_sees(env, "p-1", "1384"),  # the municipality's own id for p-1
    )
    # p-1 waits again, keeping their position, for another place than this one.
    assert waiting is not None
    assert waiting["declined"] == [offers["p-1"]["agreement_id"]]


async def _expired(settings: Settings) -> list[dict[str, Any]]:
    changes = await events_on(settings, topics.PLACEMENT_EVENTS, CHANGED)
    return [c for c in changes if c["data"]["change"] == "expired"]


async def _offers(settings: Settings) -> list[dict[str, Any]]:
    return await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)


async def test_missed_attendance_over_the_threshold_raises_a_risk_once(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        offer = await _one_place_offered_to_p1(settings)
        await _step(
            settings,
            _change(offer, PlacementAction.ACCEPT, date(2026, 2, 2)),
            _change(offer, PlacementAction.START, date(2026, 2, 2)),
        )
        weeks = [
            (date(2026, 2, 2) + timedelta(days=7 * n), attended)
            for n, attended in enumerate((18, 6, 4))
        ]
        await _step(
            settings,
            *(
                AttendanceReported(
                    placement_id=offer["data"]["placement_id"],
                    participant_id="p-1",
                    period_start=start,
                    period_end=start + timedelta(days=4),
                    expected_hours=20,
                    attended_hours=hours,
                )
                for start, hours in weeks
            ),
        )
    [risk] = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.at-risk.v1")
    # Hand-computed: 18+6 of 40 hours after two weeks = 40 % missed, over the 30 % threshold.
    assert (risk["data"]["missed_share"], risk["data"]["threshold"]) == (0.4, 0.3)


async def test_attendance_reaches_the_municipality_by_reason_and_only_unexcused_hours_risk(
    env: dict[str, str], settings: Settings
) -> None:
    """Three weeks of 20 hours: 16 missed sick, then 16 caring for a sick child and excused,
    then all 20 missed, 16 of them unexcused and 4 given no reason. Only the third week makes
    the placement at risk and opens a support task, which the partner sees too (p-1 consented
    to sharing); every week reaches the participant's municipality with its hours by reason and
    the participant's confirmation."""
    async with running("placement", env):
        offer = await _one_place_offered_to_p1(settings, [ConsentPurpose.SHARE_WITH_PARTNER])
        await _step(
            settings,
            _change(offer, PlacementAction.ACCEPT, date(2026, 2, 2)),
            _change(offer, PlacementAction.START, date(2026, 2, 2)),
        )
        weeks = [
            [Absence(reason=AbsenceReason.SICK, hours=16)],
            [
                Absence(reason=AbsenceReason.CARE_OF_CHILD, hours=10),
                Absence(reason=AbsenceReason.EXCUSED, hours=6),
            ],
            [Absence(reason=AbsenceReason.UNEXCUSED, hours=16)],
        ]
        for n, (attended, absences) in enumerate(zip((4, 4, 0), weeks, strict=True)):
            start = date(2026, 2, 2) + timedelta(days=7 * n)
            await _step(
                settings,
                AttendanceReported(
                    placement_id=offer["data"]["placement_id"],
                    participant_id="p-1",
                    period_start=start,
                    period_end=start + timedelta(days=4),
                    expected_hours=20,
                    attended_hours=attended,
                    absences=absences,
                    participant_confirmed_on=start + timedelta(days=5) if n == 0 else None,
                ),
            )
            risks = await events_on(
                settings, topics.PLACEMENT_EVENTS, "insats.placement.at-risk.v1"
            )
            assert len(risks) == (1 if n == 2 else 0), n
        municipality_stream = await events_on(settings, topics.municipality_events_topic("1384"))
    # Hand-computed over the three weeks: 52 of 60 hours missed, 20 of them unexcused.
    assert (risks[0]["data"]["missed_share"], risks[0]["data"]["unexcused_share"]) == (0.867, 0.333)
    recorded = [
        e["data"]["facts"]
        for e in municipality_stream
        if e["data"]["source_type"] == "insats.attendance.recorded.v1"
    ]
    assert [
        (
            r["sick_hours"],
            r["care_of_child_hours"],
            r["excused_hours"],
            r["unexcused_hours"],
            r["participant_confirmed_on"],
        )
        for r in recorded
    ] == [(16, 0, 0, 0, "2026-02-07"), (0, 10, 6, 0, None), (0, 0, 0, 20, None)]
    [task] = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.support-task.opened.v1")
    assert (task["data"]["reason"], task["data"]["due_date"]) == ("franvaro", "2026-02-27")
    [notice] = await events_on(
        settings, topics.partner_placements_topic(PARTNER), "insats.partner-support.notice.v1"
    )
    assert (notice["data"]["task_id"], notice["data"]["participant_id"]) == (
        task["data"]["task_id"],
        partner_sees(env, "p-1", PARTNER),
    )


async def test_support_check_ins_fall_due_after_a_move_to_work_and_are_recorded(
    env: dict[str, str], settings: Settings
) -> None:
    """Check-ins fall due on the municipality's and the partner's streams; an answer
    behover_stod opens one support task (the same answer again, by the partner, opens no
    second), owned by the agreement's municipal contact, to the municipality only (p-1 did not
    consent to sharing with the partner)."""
    async with running(
        "placement", {**env, "INSATS_TODAY": "2026-05-20", "INSATS_DUE_CHECK_SECONDS": "0.3"}
    ):
        offer = await _one_place_offered_to_p1(settings)
        await _step(
            settings,
            _change(offer, PlacementAction.ACCEPT, date(2026, 2, 2)),
            _change(offer, PlacementAction.START, date(2026, 2, 2)),
            PlacementEndReported(
                placement_id=offer["data"]["placement_id"],
                participant_id="p-1",
                reason=EndReason.MOVED_TO_WORK,
                end_date=date(2026, 4, 1),
            ),
        )
        for _ in range(50):
            due = await events_on(
                settings, topics.PLACEMENT_EVENTS, "insats.support-check-in.due.v1"
            )
            if len(due) >= 2:
                break
            await wait_settled(settings, services=["placement"])
        # 14 and 30 days after 1 April have passed by 20 May; 91 days have not.
        assert sorted(d["data"]["due_date"] for d in due) == ["2026-04-15", "2026-05-01"]
        await _step(
            settings,
            SupportCheckInReported(
                check_in_id=due[0]["data"]["check_in_id"],
                placement_id=offer["data"]["placement_id"],
                participant_id="p-1",
                on=date(2026, 4, 16),
                status=CheckInStatus.NEEDS_SUPPORT,
            ),
        )
        await publish(
            settings,
            event(
                SupportCheckInReported(
                    check_in_id=due[0]["data"]["check_in_id"],
                    placement_id=offer["data"]["placement_id"],
                    on=date(2026, 4, 17),
                    status=CheckInStatus.NEEDS_SUPPORT,
                ),
                "1384",
                source=f"urn:partner:{PARTNER}",
            ),
        )
        await wait_settled(settings, services=["placement"])
        [opened] = await events_on(
            settings, topics.PLACEMENT_EVENTS, "insats.support-task.opened.v1"
        )
        close = SupportTaskClosedReported(
            task_id=opened["data"]["task_id"],
            placement_id=offer["data"]["placement_id"],
            on=date(2026, 4, 24),
            action="Samtal med deltagaren och arbetsgivaren",
        )
        # The partner may not close the municipality's task; the municipality does, once.
        await publish(settings, event(close, "1384", source=f"urn:partner:{PARTNER}"))
        await _step(settings, close, close.model_copy(update={"on": date(2026, 4, 25)}))
    client = mongo_client(settings)
    try:
        recorded = await client[settings.database_name("placement")]["check_ins"].find_one(
            {"_id": due[0]["data"]["check_in_id"]}
        )
    finally:
        await client.close()
    assert recorded is not None
    assert recorded["result"]["status"] == "behover_stod"
    [task] = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.support-task.opened.v1")
    assert {k: task["data"][k] for k in ("reason", "owner", "opened_on", "due_date")} == {
        "reason": "behover_stod",
        "owner": "Arbetsmarknadsenheten, jobbcoach",
        "opened_on": "2026-04-16",
        "due_date": "2026-04-23",
    }
    municipality_stream = await events_on(settings, topics.municipality_events_topic("1384"))
    assert "insats.support-task.opened.v1" in {
        e["data"].get("source_type") for e in municipality_stream
    }
    notices = await events_on(
        settings, topics.partner_placements_topic(PARTNER), "insats.partner-support.notice.v1"
    )
    # The two check-ins due, answerable by the partner; no task (no consent), no participant id.
    assert sorted(n["data"]["due_date"] for n in notices) == ["2026-04-15", "2026-05-01"]
    assert all(n["data"]["check_in_id"] and n["data"]["task_id"] is None for n in notices)
    assert all(n["data"]["participant_id"] is None for n in notices)
    [closed] = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.support-task.closed.v1")
    assert (closed["data"]["closed_on"], closed["data"]["overdue"]) == ("2026-04-24", True)
    refusals = await events_on(
        settings, topics.partner_placements_topic(PARTNER), "insats.input.rejected.v1"
    )
    assert [r["data"]["reason"] for r in refusals] == ["NOT_TASK_OWNER"]
    answers = await events_on(
        settings, topics.municipality_events_topic("1384"), "insats.input.rejected.v1"
    )
    assert [r["data"]["reason"] for r in answers] == ["UNKNOWN_SUPPORT_TASK"]


async def test_the_partners_stream_carries_only_what_it_needs_and_honours_consent(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=2)
        await _step(
            settings,
            enrolled("p-shares", consents=[ConsentPurpose.SHARE_WITH_PARTNER]),
            enrolled("p-private", referred=date(2026, 2, 2)),
        )
        await _step(
            settings,
            ConsentChanged(
                participant_id="p-shares",
                purpose=ConsentPurpose.SHARE_WITH_PARTNER,
                granted=False,
                recorded_on=date(2026, 3, 1),
                source="handläggare",
            ),
        )
    stream = await events_on(settings, topics.partner_placements_topic(PARTNER))
    views = [e["data"] for e in stream]
    allowed = {
        "placement_id",
        "partner_id",
        "participant_id",
        "status",
        "workplace_id",
        "activity",
        "hours_per_week",
        "offered_on",
        "start_date",
        "end_date",
        "municipal_contact",
    }
    assert all(set(view) <= allowed for view in views)
    by_placement: dict[str, list[str | None]] = {}
    for view in views:  # one placement's updates share a key, so they stay in order
        by_placement.setdefault(view["placement_id"], []).append(view["participant_id"])
    # Offered with the id; after the withdrawal, the same placement again without it. The one
    # who never consented is never named.
    assert sorted(by_placement.values(), key=len) == [
        [None],
        [partner_sees(env, "p-shares", PARTNER), None],
    ]
    assert all(v["municipal_contact"] == "Arbetsmarknadsenheten, jobbcoach" for v in views)


async def test_no_consent_lets_a_partner_learn_who_a_person_with_protected_identity_is(
    env: dict[str, str], settings: Settings
) -> None:
    shares = [ConsentPurpose.SHARE_WITH_PARTNER]
    async with running("placement", env):
        await _setup(settings, capacity=2)
        await _step(
            settings,
            enrolled("p-protected", consents=shares, protected_identity=True),
            enrolled("p-later", consents=shares, referred=date(2026, 2, 2)),
        )
        # p-later's identity becomes protected while they hold their offered place.
        await _step(
            settings,
            ProtectedIdentityChanged(
                participant_id="p-later", protected=True, recorded_on=date(2026, 3, 1)
            ),
        )
    stream = await events_on(settings, topics.partner_placements_topic(PARTNER))
    by_placement: dict[str, list[str | None]] = {}
    for view in (e["data"] for e in stream):
        by_placement.setdefault(view["placement_id"], []).append(view["participant_id"])
    # Protected at enrolment: never named despite the consent. Protected later: named when
    # offered, then the same placement again without the id.
    assert sorted(by_placement.values(), key=len) == [
        [None],
        [partner_sees(env, "p-later", PARTNER), None],
    ]


async def test_an_erased_participant_leaves_the_queue_and_their_place_and_only_counts_remain(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=1)
        await _step(settings, enrolled("p-erased", referred=date(2026, 1, 2)))
        await _step(settings, enrolled("p-waiting", referred=date(2026, 1, 3)))
        await _step(
            settings,
            ParticipantErased(
                participant_id="p-erased",
                reason=ErasureReason.GDPR_ARTICLE_17,
                erased_on=date(2026, 3, 1),
            ),
        )
    offers = await _offers_by_participant(settings)
    assert set(offers) == {"p-erased", "p-waiting"}  # the place the erased person held goes on
    client = mongo_client(settings)
    try:
        db = client[settings.database_name("placement")]
        stored = {
            name: await db[name].find({}).to_list()
            for name in ("waiting", "placements", "check_ins")
        }
    finally:
        await client.close()
    assert "p-erased" not in str(stored)
    assert len(stored["placements"]) == 2  # the erased one anonymised, the next one offered
    stream = await events_on(settings, topics.partner_placements_topic(PARTNER))
    erased_views = [
        e["data"] for e in stream if e["data"]["placement_id"] == offers["p-erased"]["placement_id"]
    ]
    assert erased_views[-1]["status"] is None  # withdrawn from the partner's roster
    assert erased_views[-1]["participant_id"] is None


async def test_a_partner_without_the_participants_id_reports_by_placement(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=1)
        await _step(settings, enrolled("p-private"))  # no consent to sharing
        [view] = await events_on(settings, topics.partner_placements_topic(PARTNER))
        assert view["data"]["participant_id"] is None
        assert view["data"]["offered_on"] == "2026-02-01"
        placement = view["data"]["placement_id"]
        for action, on in (
            (PlacementAction.ACCEPT, date(2026, 2, 2)),
            (PlacementAction.START, date(2026, 2, 3)),
        ):
            await _step(
                settings, PlacementChangeReported(placement_id=placement, action=action, on=on)
            )
    [started] = await events_on(settings, topics.PLACEMENT_EVENTS, STARTED)
    assert started["data"]["participant_id"] == "p-private"  # placement knows who it is
