"""Following a participant's individual plan: which step comes next, and what they wait for.

A step begins when every step it comes after has ended, in whatever way (completed, interrupted
or struck out: the caseworker revises the plan if an interruption changes it). A placement step
waits in the programme's queue for a place that fits it; an internal step or a subsidised
employment needs no place, and the caseworker records its start and end in the plan. A placement
step's own start and end come from its placement, whatever a revision says, except that a
caseworker may strike a step that has not begun.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date

from shared.contracts.intake import PlanAdopted
from shared.contracts.placement import PlanProgressed
from shared.contracts.plans import (
    ENDED_STEP,
    PlanStep,
    StepKind,
    StepStatus,
    placement_step_status,
)
from shared.contracts.vocabulary import EndReason


@dataclass(frozen=True)
class StepState:
    step: PlanStep
    status: StepStatus
    started_on: date | None = None
    ended_on: date | None = None

    @property
    def ended(self) -> bool:
        return self.status in ENDED_STEP

    @property
    def under_way(self) -> bool:
        return self.status is StepStatus.ONGOING


@dataclass(frozen=True)
class EnrolmentPlan:
    participant_id: str
    programme_id: str
    participation: int
    municipality: str
    revision: int
    steps: tuple[StepState, ...]

    def step(self, step_id: str | None) -> StepState | None:
        return next((s for s in self.steps if s.step.step_id == step_id), None)

    def ready(self) -> list[PlanStep]:
        """Placement steps that may begin now, in the plan's order: not begun, and every step
        they come after ended."""
        ended = {s.step.step_id for s in self.steps if s.ended}
        return [
            s.step
            for s in self.steps
            if s.step.kind is StepKind.PLACEMENT
            and s.status is StepStatus.PLANNED
            and all(before in ended for before in s.step.after)
        ]

    def next_to_wait_for(self, held: Collection[str]) -> PlanStep | None:
        """The first placement step that may begin and holds no place yet."""
        return next((step for step in self.ready() if step.step_id not in held), None)

    @property
    def complete(self) -> bool:
        return all(s.ended for s in self.steps)

    def started(self, step_id: str, on: date) -> EnrolmentPlan:
        return self._with(step_id, status=StepStatus.ONGOING, started_on=on)

    def ended(self, step_id: str, reason: EndReason, on: date) -> EnrolmentPlan:
        return self._with(step_id, status=placement_step_status(reason), ended_on=on)

    def _with(self, step_id: str, **changes: object) -> EnrolmentPlan:
        steps = tuple(
            replace(s, **changes) if s.step.step_id == step_id else s  # type: ignore[arg-type]
            for s in self.steps
        )
        return replace(self, steps=steps)

    def progressed(
        self,
        change: str,
        on: date,
        waiting_for: Collection[str],
        step: StepState | None = None,
    ) -> PlanProgressed:
        return PlanProgressed(
            participant_id=self.participant_id,
            programme_id=self.programme_id,
            municipality=self.municipality,
            participation=self.participation,
            revision=self.revision,
            change=change,
            step_id=step.step.step_id if step else None,
            step_status=step.status if step else None,
            on=on,
            waiting_for=sorted(waiting_for),
            under_way=[s.step.step_id for s in self.steps if s.under_way],
            complete=self.complete,
        )


def adopt(previous: EnrolmentPlan | None, adopted: PlanAdopted) -> EnrolmentPlan:
    """The new revision, keeping what placement knows of its placement steps: a step that began
    or ended at a partner stays so, whatever the revision says, unless it is struck before it
    began."""
    known = {s.step.step_id: s for s in previous.steps} if previous else {}
    steps = []
    for step in adopted.plan.steps:
        state = StepState(step, step.status, step.started_on, step.ended_on)
        held = known.get(step.step_id)
        if step.kind is StepKind.PLACEMENT:
            begun = held is not None and held.status is not StepStatus.PLANNED
            if begun and held is not None:
                state = replace(held, step=step)
            elif step.status is not StepStatus.CANCELLED:
                # Not begun: it begins when its placement starts, not when a revision says.
                state = StepState(step, StepStatus.PLANNED)
        steps.append(state)
    return EnrolmentPlan(
        participant_id=adopted.participant_id,
        programme_id=adopted.programme_id,
        participation=adopted.participation,
        municipality=adopted.municipality,
        revision=adopted.plan.revision,
        steps=tuple(steps),
    )
