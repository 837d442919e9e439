"""The demo's individual plans: two residents whose caseworkers record a plan, played step by step
against the running services as their case systems and partners would.

Halmstad (seed 002): an introduction, then SFI beside a praktik at a shop, then arbetsträning at
the logistics centre: four steps, two side by side, each placement offered where the plan says.
Helsingborg (seed 004): arbetsträning at Pingstkyrkans second hand from 8 hours a week, stepped up
to 20, and then an OSA employment of 30 hours at the same partner: a step of the plan, not an end
and a re-queue, followed by the support check-ins that follow a move into work.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from rich.table import Table

from scripts.demo.scenario import HALMSTAD, HALMSTAD_150, HELSINGBORG, HELSINGBORG_STEG
from scripts.harness import Publisher, read_topic, wait_settled
from services.intake.personnummer import format_with_check
from services.outcomes.domain import Journey
from services.outcomes.store import OutcomesStore
from shared.contracts import topics
from shared.contracts.envelope import Envelope, EventData, new_event
from shared.contracts.municipal import PlanRecorded, ReferralReceived
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
from shared.contracts.vocabulary import (
    ActivityType,
    ConsentPurpose,
    EndReason,
    PlacementAction,
    TargetGroup,
)
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings

PINGSTKYRKAN = "pingstkyrkan-second-hand"
CASE_SYSTEM = "Verksamhetssystemet, arbetsmarknadshandläggare"
_OFFERED = "insats.placement.offered.v1"
_DUE = "insats.support-check-in.due.v1"


def _kommun(municipality: str) -> str:
    return f"urn:kommun:{municipality}"


def _internal(step_id: str, activity: ActivityType, goal: StepGoal, **fields: Any) -> PlanStep:
    return PlanStep(step_id=step_id, kind=StepKind.INTERNAL, activity=activity, goal=goal, **fields)


@dataclass(frozen=True)
class PlanPath:
    """One resident's plan: the referral, and the plan's revisions in the order recorded."""

    referral: ReferralReceived

    def plan(self, revision: int, on: date, steps: Iterable[PlanStep]) -> Envelope[EventData]:
        request = PlanRecorded(
            request_id=f"plan-{self.referral.referral_id}-{revision}",
            personnummer=self.referral.personnummer,
            municipality=self.referral.municipality,
            programme_id=self.referral.programme_id,
            plan=Plan(revision=revision, steps=list(steps)),
            recorded_on=on,
            recorded_by=CASE_SYSTEM,
        )
        return new_event(
            request, source=_kommun(self.referral.municipality), municipality=request.municipality
        )


def _referral(
    referral_id: str, municipality: str, programme: str, born: date, serial: int, on: date
) -> ReferralReceived:
    return ReferralReceived(
        referral_id=referral_id,
        personnummer=format_with_check(born, serial),
        municipality=municipality,
        programme_id=programme,
        income_support=True,
        target_groups=[TargetGroup.LONG_TERM_UNEMPLOYED],
        referral_date=on,
        consents=[
            ConsentPurpose.SHARE_WITH_PARTNER,
            ConsentPurpose.FOLLOW_UP_CONTACT,
            ConsentPurpose.FUNDER_REPORTING,
        ],
    )


HALMSTAD_PATH = PlanPath(
    _referral("1380-2026-plan", HALMSTAD, HALMSTAD_150, date(1988, 6, 21), 614, date(2026, 9, 1))
)
HELSINGBORG_PATH = PlanPath(
    _referral(
        "1283-2026-plan", HELSINGBORG, HELSINGBORG_STEG, date(1979, 2, 8), 437, date(2026, 2, 2)
    )
)

# Halmstad: the introduction, then SFI in the mornings beside a praktik in the afternoons, then
# arbetsträning once the praktik is done.
H_INTRO = _internal(
    "h-introduktion",
    ActivityType.INTRODUCTION,
    StepGoal.MAPPING,
    status=StepStatus.ONGOING,
    started_on=date(2026, 9, 1),
    planned_end=date(2026, 9, 11),
)
H_SFI = _internal(
    "h-sfi", ActivityType.LANGUAGE_TRAINING, StepGoal.LANGUAGE, after=["h-introduktion"]
)
H_PRAKTIK = PlanStep(
    step_id="h-praktik",
    kind=StepKind.PLACEMENT,
    activity=ActivityType.PRAKTIK,
    goal=StepGoal.WORK_EXPERIENCE,
    after=["h-introduktion"],
    partner_id="halland-handel",
    hours_per_week=15,
)
H_TRAINING = PlanStep(
    step_id="h-arbetstraning",
    kind=StepKind.PLACEMENT,
    activity=ActivityType.ARBETSTRANING,
    goal=StepGoal.WORK_CAPACITY,
    after=["h-praktik"],
    partner_id="halland-logistik",
    hours_per_week=25,
)

# Helsingborg: a few hours a week at the second-hand shop, stepped up, into an OSA there.
B_INTRO = _internal(
    "b-kartlaggning",
    ActivityType.INTRODUCTION,
    StepGoal.MAPPING,
    status=StepStatus.ONGOING,
    started_on=date(2026, 2, 2),
)
B_TRAINING = PlanStep(
    step_id="b-arbetstraning",
    kind=StepKind.PLACEMENT,
    activity=ActivityType.ARBETSTRANING,
    goal=StepGoal.WORK_CAPACITY,
    after=["b-kartlaggning"],
    partner_id=PINGSTKYRKAN,
    hours_per_week=8,
)
B_OSA = PlanStep(
    step_id="b-osa",
    kind=StepKind.EMPLOYMENT,
    goal=StepGoal.EMPLOYMENT,
    after=["b-arbetstraning"],
    employment=SubsidisedEmployment(
        kind=EmploymentKind.OSA,
        employer_id=PINGSTKYRKAN,
        decision_date=date(2026, 8, 24),
        wage_share=0.8,
        hours_per_week=30,
    ),
)


def _done(step: PlanStep, ended: date) -> PlanStep:
    return step.model_copy(update={"status": StepStatus.COMPLETED, "ended_on": ended})


def _begun(step: PlanStep, started: date) -> PlanStep:
    return step.model_copy(update={"status": StepStatus.ONGOING, "started_on": started})


class _Player:
    """Publishes as the case systems and partners do, and lets the services settle each time."""

    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self.settings = settings
        self.publisher = publisher

    async def send(self, *events: Envelope[Any]) -> None:
        for event in events:
            await self.publisher.send(event)
        await self.publisher.flush()
        await wait_settled(self.settings)

    async def offer_for(self, step_id: str) -> dict[str, Any]:
        for _, value, _ in await read_topic(self.settings, topics.PLACEMENT_EVENTS):
            event = json.loads(value)
            if event["type"] == _OFFERED and event["data"].get("plan_step_id") == step_id:
                return dict(event["data"])
        raise RuntimeError(f"no place was offered for the plan's step {step_id}")

    async def take_up(self, step_id: str, on: date) -> dict[str, Any]:
        """The partner accepts the step's offer and the participant starts."""
        offer = await self.offer_for(step_id)
        for action in (PlacementAction.ACCEPT, PlacementAction.START):
            await self.partner(
                offer,
                PlacementChangeReported(placement_id=offer["placement_id"], action=action, on=on),
            )
        return offer

    async def partner(self, offer: dict[str, Any], data: EventData) -> None:
        await self.send(
            new_event(
                data,
                source=f"urn:partner:{offer['partner_id']}",
                municipality=offer["municipality"],
            )
        )

    async def end(self, offer: dict[str, Any], reason: EndReason, on: date) -> None:
        await self.partner(
            offer,
            PlacementEndReported(
                placement_id=offer["placement_id"],
                reason=reason,
                end_date=on,
                exits_programme=False,
            ),
        )


async def play_plans(settings: Settings) -> str:
    """Both paths, from referral to where they stand. Returns the Helsingborg arbetsträning's
    placement, whose end into OSA brings support check-ins."""
    h, b = HALMSTAD_PATH, HELSINGBORG_PATH
    async with Publisher(settings) as publisher:
        play = _Player(settings, publisher)
        await play.send(
            *(
                new_event(
                    p.referral,
                    source=_kommun(p.referral.municipality),
                    municipality=p.referral.municipality,
                )
                for p in (h, b)
            )
        )
        # Helsingborg, from February: the mapping, then 8 hours a week at the shop.
        await play.send(b.plan(1, date(2026, 2, 2), [B_INTRO, B_TRAINING, B_OSA]))
        intro_done = _done(B_INTRO, date(2026, 2, 13))
        await play.send(b.plan(2, date(2026, 2, 13), [intro_done, B_TRAINING, B_OSA]))
        shop = await play.take_up(B_TRAINING.step_id, date(2026, 2, 16))
        for hours, on in ((12, date(2026, 4, 6)), (20, date(2026, 6, 1))):
            await play.partner(
                shop,
                PlacementChangeReported(
                    placement_id=shop["placement_id"],
                    action=PlacementAction.CHANGE_HOURS,
                    on=on,
                    hours_per_week=hours,
                ),
            )
        # Into OSA at the same shop: the arbetsträning ends in work, the plan's next step.
        await play.end(shop, EndReason.MOVED_TO_WORK, date(2026, 8, 31))
        osa = _begun(B_OSA, date(2026, 9, 1))
        await play.send(
            b.plan(3, date(2026, 9, 1), [intro_done, _done(B_TRAINING, date(2026, 8, 31)), osa])
        )
        # Halmstad, from September: nothing is offered while the introduction goes on.
        await play.send(h.plan(1, date(2026, 9, 1), [H_INTRO, H_SFI, H_PRAKTIK, H_TRAINING]))
        h_intro = _done(H_INTRO, date(2026, 9, 11))
        sfi = _begun(H_SFI, date(2026, 9, 14))
        await play.send(h.plan(2, date(2026, 9, 11), [h_intro, sfi, H_PRAKTIK, H_TRAINING]))
        praktik = await play.take_up(H_PRAKTIK.step_id, date(2026, 9, 14))
        await play.end(praktik, EndReason.COMPLETED, date(2026, 10, 30))
        await play.take_up(H_TRAINING.step_id, date(2026, 11, 2))
    return str(shop["placement_id"])


async def plans_table(settings: Settings, osa_shop_placement: str) -> Table:
    """Each plan's steps as outcomes' journey has them, and the check-ins after the OSA."""
    client = mongo_client(settings)
    try:
        store = OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
        journeys = [
            j
            for programme in (HALMSTAD_150, HELSINGBORG_STEG)
            for j in await store.journeys_of(programme)
            if j.plan_steps
        ]
    finally:
        await client.close()
    due = [
        json.loads(value)["data"]
        for _, value, _ in await read_topic(settings, topics.PLACEMENT_EVENTS)
        if json.loads(value)["type"] == _DUE
    ]
    table = Table("programme", "step", "kind", "status", "details", title="Individual plans")
    for journey in sorted(journeys, key=lambda j: j.programme_id):
        for row in _rows(journey):
            table.add_row(journey.programme_id, *row)
        done, planned = journey.steps_against_plan
        hours = " → ".join(str(h) for _, h in journey.hours)
        table.add_row(journey.programme_id, "", "", f"{done} of {planned} done", f"hours {hours}")
    checks = [d for d in due if d["placement_id"] == osa_shop_placement]
    table.add_row(
        HELSINGBORG_STEG,
        "",
        "",
        "support check-ins due",
        ", ".join(d["due_date"] for d in checks) or "none yet",
    )
    return table


def _rows(journey: Journey) -> list[tuple[str, str, str, str]]:
    rows = []
    for step in journey.plan_steps:
        details = ""
        if step.employment is not None:
            share = f"{step.wage_share:.0%}" if step.wage_share is not None else "?"
            details = (
                f"{step.employment.value} at {step.employer_id}, decided {step.decided_on}, "
                f"wage share {share}"
            )
        rows.append((step.step_id, step.kind.value, journey.step_status(step).value, details))
    return rows
