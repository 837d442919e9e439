"""The individual plan (handlingsplan) a caseworker keeps for one enrolment: its steps, in order
and side by side, as the municipality records it and as intake passes it on.

A plan holds no free text: a goal is a code, an employment a kind and a share. What a plan says
goes to placement and, for a partner's step, to the partner's places; a health fact written into
a goal would reach them, so there is nowhere to write one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from shared.contracts.envelope import ContractModel
from shared.contracts.vocabulary import (
    FEW,
    ActivityType,
    BusinessDate,
    EndReason,
    Identifier,
    PartyId,
    TenantId,
)

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class StepKind(StrEnum):
    # At a partner's place, through the programme's queue and its agreements.
    PLACEMENT = "placering"
    # The labour-market unit's own activity (introduction, coaching, study planning, SFI at
    # Komvux): no partner, no place in the queue; the caseworker records its start and end.
    INTERNAL = "egen_verksamhet"
    # A subsidised employment (OSA, lönebidrag ...): an employment with an employer and a
    # decision, not an activity at a place.
    EMPLOYMENT = "anstallning"


class StepGoal(StrEnum):
    """What a step is for, as the plan's goals are usually written (a code, never free text)."""

    MAPPING = "kartlaggning"  # find out what the person can and wants
    LANGUAGE = "svenska"
    WORK_EXPERIENCE = "arbetslivserfarenhet"
    WORK_CAPACITY = "arbetsformaga"  # build up hours and stamina
    VOCATIONAL_SKILLS = "yrkeskompetens"
    STUDIES = "studier"
    EMPLOYMENT = "anstallning"
    SELF_SUFFICIENCY = "egen_forsorjning"


class StepStatus(StrEnum):
    PLANNED = "planerat"
    ONGOING = "pagar"
    COMPLETED = "genomfort"
    # Ended before its goal was reached (dropped out, ended early).
    INTERRUPTED = "avbrutet"
    # Taken out of the plan before it began.
    CANCELLED = "struket"


ENDED_STEP = frozenset({StepStatus.COMPLETED, StepStatus.INTERRUPTED, StepStatus.CANCELLED})
# The ends of a placement that reach its step's goal: work and studies are what a plan is for.
COMPLETING_ENDS = frozenset(
    {EndReason.COMPLETED, EndReason.MOVED_TO_WORK, EndReason.MOVED_TO_STUDIES}
)


def placement_step_status(reason: EndReason) -> StepStatus:
    """How a placement step stands once its placement ended for `reason`."""
    return StepStatus.COMPLETED if reason in COMPLETING_ENDS else StepStatus.INTERRUPTED


class EmploymentKind(StrEnum):
    """Subsidised employments (Arbetsförmedlingen's decisions), as the seed programmes use them."""

    OSA = "osa"  # offentligt skyddat arbete
    WAGE_SUBSIDY = "lonebidrag"
    SECURITY_EMPLOYMENT = "trygghetsanstallning"
    DEVELOPMENT_EMPLOYMENT = "utvecklingsanstallning"
    NEW_START_JOB = "nystartsjobb"
    INTRODUCTION_JOB = "introduktionsjobb"


class SubsidisedEmployment(ContractModel):
    kind: EmploymentKind
    employer_id: TenantId | None = Field(
        default=None, description="The employer as a registered partner, if it is one."
    )
    employer_organisationsnummer: PartyId | None = Field(
        default=None, description="The employer by organisationsnummer, if not a partner."
    )
    decision_date: BusinessDate = Field(description="The day of the subsidy decision.")
    wage_share: Share = Field(
        description="The share of the wage cost the subsidy covers (e.g. 0.8 for lönebidrag of "
        "80 per cent)."
    )
    hours_per_week: int | None = Field(default=None, ge=1, le=40)

    @model_validator(mode="after")
    def _names_employer(self) -> Self:
        if self.employer_id is None and self.employer_organisationsnummer is None:
            raise ValueError(
                "an employment names its employer (employer_id or organisationsnummer)"
            )
        return self


class PlanStep(ContractModel):
    """One step of the plan. It begins when every step it comes `after` has ended (in any way);
    steps after the same steps run side by side (SFI in the mornings, arbetsträning in the
    afternoons)."""

    step_id: Identifier
    kind: StepKind
    activity: ActivityType | None = Field(
        default=None, description="What the step is: required for a placement or internal step."
    )
    goal: StepGoal
    after: list[Identifier] = Field(
        default_factory=list,
        max_length=FEW,
        description="Earlier steps of the plan that must end first; empty: from the plan's start.",
    )
    planned_start: BusinessDate | None = None
    planned_end: BusinessDate | None = None
    partner_id: TenantId | None = Field(
        default=None, description="A placement step at this partner only (any of its agreements)."
    )
    agreement_id: Identifier | None = Field(
        default=None, description="A placement step under this agreement only."
    )
    hours_per_week: int | None = Field(default=None, ge=1, le=40)
    employment: SubsidisedEmployment | None = Field(
        default=None, description="The employment of an employment step (required there)."
    )
    status: StepStatus = Field(
        default=StepStatus.PLANNED,
        description="As the caseworker records it. A placement step's start and end come from "
        "its placement; only striking it (struket) counts from here.",
    )
    started_on: BusinessDate | None = None
    ended_on: BusinessDate | None = None

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        if self.kind is StepKind.EMPLOYMENT:
            if self.employment is None:
                raise ValueError("an employment step names its employment")
        elif self.activity is None:
            raise ValueError("a placement or internal step names its activity")
        if self.kind is not StepKind.PLACEMENT and (self.partner_id or self.agreement_id):
            raise ValueError("only a placement step names a partner or an agreement")
        if self.kind is not StepKind.EMPLOYMENT and self.employment is not None:
            raise ValueError("only an employment step names an employment")
        if self.planned_start and self.planned_end and self.planned_end < self.planned_start:
            raise ValueError("planned_end is before planned_start")
        if self.started_on and self.ended_on and self.ended_on < self.started_on:
            raise ValueError("ended_on is before started_on")
        return self


class Plan(ContractModel):
    revision: int = Field(
        ge=1,
        le=1_000_000,
        description="Each new version of the plan has a higher revision; an older one is refused.",
    )
    steps: list[PlanStep] = Field(min_length=1, max_length=FEW)

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        # Positions, not ids, in the reasons: a reason reaches dead-letter headers and answers,
        # which never carry input values.
        seen: set[str] = set()
        for position, step in enumerate(self.steps, start=1):
            if step.step_id in seen:
                raise ValueError(f"the id of step {position} appears twice")
            if any(before not in seen for before in step.after):
                # Only earlier steps: a plan cannot wait on itself in a circle.
                raise ValueError(f"step {position} comes after a step that is not an earlier step")
            seen.add(step.step_id)
        return self
