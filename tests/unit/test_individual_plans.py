"""Individual plans, as pure rules: which steps may begin, what a placement step waits for, and
how a revision keeps what placement knows."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest
from pydantic import ValidationError

from scripts.placement_cli import waiting_count
from services.intake import domain as intake_domain
from services.placement.domain import AgreementPlaces, ProgrammeBook, WaitingEntry
from services.placement.plans import adopt
from shared.contracts.intake import PlanAdopted
from shared.contracts.municipal import PlanRecorded
from shared.contracts.plans import (
    EmploymentKind,
    Plan,
    PlanStep,
    StepGoal,
    StepKind,
    StepStatus,
    SubsidisedEmployment,
)
from shared.contracts.vocabulary import ActivityType, EndReason, InputRefusal
from tests.unit.factories import programme


def _step(step_id: str, kind: StepKind = StepKind.PLACEMENT, **fields: object) -> PlanStep:
    activity = fields.pop("activity", ActivityType.ARBETSTRANING)
    if kind is StepKind.EMPLOYMENT:
        activity = None
    return PlanStep.model_validate(
        {"step_id": step_id, "kind": kind, "activity": activity, "goal": StepGoal.EMPLOYMENT}
        | fields
    )


def _adopted(*steps: PlanStep, revision: int = 1) -> PlanAdopted:
    return PlanAdopted(
        participant_id="p1",
        programme_id="halmstad-150",
        municipality="1380",
        plan=Plan(revision=revision, steps=list(steps)),
        recorded_on=date(2026, 3, 2),
    )


def test_a_step_may_only_come_after_an_earlier_step_so_a_plan_cannot_wait_in_a_circle() -> None:
    with pytest.raises(ValidationError, match="not an earlier step"):
        Plan(revision=1, steps=[_step("a", after=["b"]), _step("b")])
    with pytest.raises(ValidationError, match="appears twice"):
        Plan(revision=1, steps=[_step("a"), _step("a")])


def test_an_employment_step_names_its_employment_and_no_place() -> None:
    with pytest.raises(ValidationError, match="names its employment"):
        _step("osa", StepKind.EMPLOYMENT)
    with pytest.raises(ValidationError, match="only a placement step"):
        _step("intro", StepKind.INTERNAL, partner_id="halmstad-verkstan")


def test_steps_after_an_internal_step_wait_for_its_end_and_steps_side_by_side_begin_together() -> (
    None
):
    intro = _step("intro", StepKind.INTERNAL, activity=ActivityType.INTRODUCTION)
    plan = adopt(
        None,
        _adopted(
            intro,
            _step("praktik", after=["intro"], activity=ActivityType.PRAKTIK),
            _step("arbetstraning", after=["intro"]),
        ),
    )
    assert plan.ready() == []
    revised = adopt(
        plan,
        _adopted(
            intro.model_copy(update={"status": StepStatus.COMPLETED}),
            _step("praktik", after=["intro"], activity=ActivityType.PRAKTIK),
            _step("arbetstraning", after=["intro"]),
            revision=2,
        ),
    )
    assert [s.step_id for s in revised.ready()] == ["praktik", "arbetstraning"]
    assert revised.next_to_wait_for({"praktik"}) == revised.steps[2].step


def test_arbetstraning_then_osa_at_the_same_partner_is_the_plan_not_an_end_and_a_requeue() -> None:
    osa = _step(
        "osa",
        StepKind.EMPLOYMENT,
        after=["arbetstraning"],
        goal=StepGoal.EMPLOYMENT,
        employment=SubsidisedEmployment(
            kind=EmploymentKind.OSA,
            employer_id="halmstad-verkstan",
            decision_date=date(2026, 9, 1),
            wage_share=0.8,
        ),
    )
    plan = adopt(None, _adopted(_step("arbetstraning"), osa))
    ended = plan.started("arbetstraning", date(2026, 3, 9)).ended(
        "arbetstraning", EndReason.MOVED_TO_WORK, date(2026, 8, 31)
    )
    assert ended.step("arbetstraning").status is StepStatus.COMPLETED  # type: ignore[union-attr]
    # Nothing left to wait for a place for: the employment needs none.
    assert ended.ready() == []
    assert not ended.complete


def test_a_revision_cannot_turn_back_a_placement_step_its_placement_began() -> None:
    plan = adopt(None, _adopted(_step("arbetstraning"))).started("arbetstraning", date(2026, 3, 9))
    revised = adopt(plan, _adopted(_step("arbetstraning"), revision=2))
    assert revised.step("arbetstraning").status is StepStatus.ONGOING  # type: ignore[union-attr]


def _book(*agreements: AgreementPlaces) -> ProgrammeBook:
    return ProgrammeBook(
        programme_id="halmstad-150",
        definition=programme(capacity=10),
        agreements={a.agreement_id: a for a in agreements},
        occupied=0,
        waiting=[],
        waiting_total=0,
    )


def _places(agreement_id: str, partner_id: str, places: int) -> AgreementPlaces:
    return AgreementPlaces(
        agreement_id=agreement_id,
        partner_id=partner_id,
        places=places,
        activities=[ActivityType.ARBETSTRANING, ActivityType.PRAKTIK],
        period_start=date(2026, 1, 1),
        period_end=date(2027, 12, 31),
    )


def test_a_placement_step_at_a_named_partner_is_offered_there_and_side_by_side_steps_both() -> None:
    book = _book(
        _places("kafe-1", "halmstad-kafe", 1), _places("verkstan-1", "halmstad-verkstan", 9)
    )
    entry = WaitingEntry(
        participant_id="p1",
        programme_id="halmstad-150",
        municipality="1380",
        income_support=False,
        referral_date=date(2026, 3, 2),
        enrolled_at=datetime(2026, 3, 2, 9),
    )
    praktik = _step("praktik", activity=ActivityType.PRAKTIK, partner_id="halmstad-kafe")
    arbetstraning = _step("arbetstraning", hours_per_week=8)
    book.enqueue(replace(entry, plan_step=praktik))
    book.enqueue(replace(entry, plan_step=arbetstraning))
    offers = book.allocate(date(2026, 3, 2), "cause")
    by_step = {o.plan_step_id: o for o in offers}
    assert by_step["praktik"].agreement_id == "kafe-1"
    assert by_step["praktik"].activity is ActivityType.PRAKTIK
    assert by_step["arbetstraning"].agreement_id == "verkstan-1"
    assert by_step["arbetstraning"].hours_per_week == 8
    assert by_step["praktik"].placement_id != by_step["arbetstraning"].placement_id


def test_intake_adopts_a_plan_only_for_an_open_enrolment_and_only_a_newer_revision() -> None:
    stored = [
        {
            "programme_id": "halmstad-150",
            "referral_id": "r-1",
            "municipality": "1380",
            "referral_date": "2026-02-01",
            "plan_revision": 2,
        },
    ]

    def recorded(revision: int) -> PlanRecorded:
        return PlanRecorded(
            request_id=f"plan-{revision}",
            participant_id="p1",
            municipality="1380",
            programme_id="halmstad-150",
            plan=Plan(revision=revision, steps=[_step("praktik")]),
            recorded_on=date(2026, 3, 2),
            recorded_by="Viva, handläggare",
        )

    enrolment = intake_domain.open_enrolment(stored, "halmstad-150")
    assert intake_domain.plan_refusal(enrolment, stored, recorded(3)) is None
    for revision in (1, 2):  # a resent or an older revision never turns the plan back
        refusal = intake_domain.plan_refusal(enrolment, stored, recorded(revision))
        assert refusal is not None and refusal.code is InputRefusal.PLAN_SUPERSEDED
    refusal = intake_domain.plan_refusal(None, [], recorded(3))
    assert refusal is not None and refusal.code is InputRefusal.NOT_ENROLLED


def test_the_queue_counts_a_participant_waiting_for_two_steps_side_by_side_once() -> None:
    entry = WaitingEntry(
        participant_id="p1",
        programme_id="halmstad-150",
        municipality="1380",
        income_support=False,
        referral_date=date(2026, 3, 2),
        enrolled_at=datetime(2026, 3, 2, 9),
    )
    side_by_side = [
        replace(entry, plan_step=_step("praktik")),
        replace(entry, plan_step=_step("arbetstraning")),
        replace(entry, participant_id="p2"),
    ]
    assert waiting_count(side_by_side) == "2 waiting for 3 places"
    assert waiting_count(side_by_side[1:]) == "2 waiting"
