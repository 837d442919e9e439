"""Placement's rules: who waits, who gets a free place, and when a placement may end.

A programme's book holds its definition, its agreements (partners' places) and the best-ranked
part of its waiting list. Places are allocated whenever something changes: a participant is
enrolled, a placement ends, capacity or an agreement is added. The waiting list is ordered by
the programme's priority rule: income-support recipients first where the rule says so, then by
referral date, then by when they were enrolled.

Dates are business dates taken from the events (a referral date, a reported end date), never the
wall clock, so replaying the history reproduces the same placements.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from shared.contracts.municipal import AgreementSigned, PriorityRule, ProgrammeDefined
from shared.contracts.partner import PlacementEndReported
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.contracts.vocabulary import ActivityType

_PLACEMENT_NAMESPACE = uuid.UUID("0c7b8f4e-2d7a-4f7e-b3f1-5b0e6a9c1d22")


@dataclass(frozen=True)
class WaitingEntry:
    participant_id: str
    programme_id: str
    municipality: str
    income_support: bool
    referral_date: date
    enrolled_at: datetime

    def rank(self, rule: PriorityRule) -> tuple[int, date, datetime, str]:
        first = rule is PriorityRule.INCOME_SUPPORT_FIRST and self.income_support
        return (0 if first else 1, self.referral_date, self.enrolled_at, self.participant_id)


@dataclass
class AgreementPlaces:
    agreement_id: str
    partner_id: str
    places: int
    activities: list[ActivityType]
    period_start: date
    period_end: date
    active: int = 0

    def free_on(self, day: date) -> int:
        if not self.period_start <= day <= self.period_end:
            return 0
        return max(0, self.places - self.active)


@dataclass(frozen=True)
class ActivePlacement:
    placement_id: str
    participant_id: str
    programme_id: str
    partner_id: str
    agreement_id: str
    municipality: str
    activity: ActivityType
    start_date: date
    status: str = "active"


@dataclass
class ProgrammeBook:
    """The state of one programme that allocation needs. Mutated while a batch is applied."""

    programme_id: str
    definition: ProgrammeDefined | None
    agreements: dict[str, AgreementPlaces]
    active: int
    waiting: list[WaitingEntry]
    waiting_total: int
    removed_from_queue: list[WaitingEntry] = field(default_factory=list)
    added_to_queue: list[WaitingEntry] = field(default_factory=list)

    @property
    def rule(self) -> PriorityRule:
        return self.definition.priority if self.definition else PriorityRule.REFERRAL_DATE

    def free_places(self, day: date) -> int:
        if self.definition is None:
            return 0
        if not self.definition.period_start <= day <= self.definition.period_end:
            return 0
        return max(0, self.definition.capacity - self.active)

    def define(self, definition: ProgrammeDefined) -> None:
        self.definition = definition

    def sign(self, agreement: AgreementSigned) -> None:
        current = self.agreements.get(agreement.agreement_id)
        self.agreements[agreement.agreement_id] = AgreementPlaces(
            agreement_id=agreement.agreement_id,
            partner_id=agreement.partner_id,
            places=agreement.places,
            activities=list(agreement.activities),
            period_start=agreement.period_start,
            period_end=agreement.period_end,
            active=current.active if current else 0,
        )

    def enqueue(self, entry: WaitingEntry) -> None:
        if any(item.participant_id == entry.participant_id for item in self.waiting):
            return
        self.waiting.append(entry)
        self.added_to_queue.append(entry)
        self.waiting_total += 1

    def release(self, placement: ActivePlacement) -> None:
        self.active = max(0, self.active - 1)
        agreement = self.agreements.get(placement.agreement_id)
        if agreement is not None:
            agreement.active = max(0, agreement.active - 1)

    def allocate(self, day: date, cause: str) -> list[PlacementStarted]:
        """Fill free places from the head of the queue, as of `day` (or the programme's start,
        if that is later: people referred before a programme opens wait for its first day)."""
        started: list[PlacementStarted] = []
        if self.definition is not None:
            day = max(day, self.definition.period_start)
        rule = self.rule
        self.waiting.sort(key=lambda entry: entry.rank(rule))
        while self.waiting and self.free_places(day) > 0:
            agreement = self._agreement_with_most_free_places(day)
            if agreement is None:
                break
            entry = self.waiting.pop(0)
            self.waiting_total -= 1
            if entry in self.added_to_queue:
                self.added_to_queue.remove(entry)
            else:
                self.removed_from_queue.append(entry)
            start = max(day, entry.referral_date)
            queue_after = self.waiting_total
            placement = PlacementStarted(
                placement_id=placement_id(cause, entry.participant_id, self.programme_id),
                participant_id=entry.participant_id,
                programme_id=self.programme_id,
                partner_id=agreement.partner_id,
                agreement_id=agreement.agreement_id,
                activity=agreement.activities[0],
                municipality=entry.municipality,
                start_date=start,
                waited_days=(start - entry.referral_date).days,
                decision=_explain(entry, rule, agreement, day, queue_after),
            )
            self.active += 1
            agreement.active += 1
            started.append(placement)
        return started

    def _agreement_with_most_free_places(self, day: date) -> AgreementPlaces | None:
        candidates = [a for a in self.agreements.values() if a.free_on(day) > 0]
        if not candidates:
            return None
        return max(candidates, key=lambda a: (a.free_on(day), a.agreement_id))


def placement_id(cause: str, participant_id: str, programme_id: str) -> str:
    return "pl-" + uuid.uuid5(_PLACEMENT_NAMESPACE, f"{cause}/{programme_id}/{participant_id}").hex


def _explain(
    entry: WaitingEntry,
    rule: PriorityRule,
    agreement: AgreementPlaces,
    day: date,
    still_waiting: int,
) -> str:
    why = (
        "income-support recipient, placed first under the programme's priority rule"
        if rule is PriorityRule.INCOME_SUPPORT_FIRST and entry.income_support
        else "next by referral date"
    )
    return (
        f"{why}; referred {entry.referral_date.isoformat()}; "
        f"place at partner {agreement.partner_id} under agreement {agreement.agreement_id} "
        f"({agreement.free_on(day)} of {agreement.places} places free before this one); "
        f"{still_waiting} still waiting"
    )


@dataclass(frozen=True)
class Refusal:
    reason: str


def end_placement(
    placement: ActivePlacement | None, report: PlacementEndReported
) -> PlacementEnded | Refusal:
    """End an active placement as reported, or refuse with the reason it cannot be applied."""
    if placement is None:
        return Refusal(f"unknown placement {report.placement_id}")
    if placement.participant_id != report.participant_id:
        return Refusal(f"placement {report.placement_id} belongs to another participant")
    if placement.status != "active":
        return Refusal(f"placement {report.placement_id} has already ended")
    if report.end_date < placement.start_date:
        return Refusal(
            f"end date {report.end_date.isoformat()} is before the start "
            f"{placement.start_date.isoformat()}"
        )
    return PlacementEnded(
        placement_id=placement.placement_id,
        participant_id=placement.participant_id,
        programme_id=placement.programme_id,
        partner_id=placement.partner_id,
        municipality=placement.municipality,
        start_date=placement.start_date,
        end_date=report.end_date,
        reason=report.reason,
        exits_programme=report.exits_programme,
    )
