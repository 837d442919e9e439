"""Outcomes' rules: what counts as a result, and how a programme is doing against its goals.

A journey is one participant's way through one programme, assembled from intake's, placement's
and the follow-ups' events. Indicators are computed from journeys. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from shared.contracts.municipal import ProgrammeDefined
from shared.contracts.vocabulary import SYSSELSATTNING, FollowUpPoint, OutcomeStatus


@dataclass(frozen=True)
class Journey:
    programme_id: str
    participant_id: str
    enrolled: bool
    municipality: str | None = None
    referral_date: date | None = None
    first_placement: date | None = None
    exited: bool = False
    exit_date: date | None = None
    outcomes: dict[FollowUpPoint, OutcomeStatus] = field(default_factory=dict)

    @property
    def status_at_exit(self) -> OutcomeStatus | None:
        return self.outcomes.get(FollowUpPoint.AT_EXIT)


def in_sysselsattning(status: OutcomeStatus) -> bool:
    return status in SYSSELSATTNING


@dataclass(frozen=True)
class ProgrammeReport:
    programme_id: str
    name: str
    planned: int
    referred: int
    reached: int
    placed: int
    exited: int
    exits_with_known_status: int
    in_sysselsattning_at_exit: int
    goal_sysselsattning: float | None

    @property
    def reached_share_of_planned(self) -> float | None:
        return self.reached / self.planned if self.planned else None

    @property
    def sysselsattning_share(self) -> float | None:
        """Share of exited participants in work, studies or praktik at exit. Exits without a
        reported status count as not in sysselsättning: a missing answer is not a success."""
        return self.in_sysselsattning_at_exit / self.exited if self.exited else None

    @property
    def goal_met(self) -> bool | None:
        share = self.sysselsattning_share
        if share is None or self.goal_sysselsattning is None:
            return None
        return share >= self.goal_sysselsattning


def programme_report(
    programme: ProgrammeDefined, journeys: Iterable[Journey], rejected_referrals: int
) -> ProgrammeReport:
    enrolled = [j for j in journeys if j.enrolled]
    exited = [j for j in enrolled if j.exited]
    known = [j for j in exited if j.status_at_exit is not None]
    occupied = [
        j for j in known if j.status_at_exit is not None and in_sysselsattning(j.status_at_exit)
    ]
    return ProgrammeReport(
        programme_id=programme.programme_id,
        name=programme.name,
        planned=programme.planned_participants,
        referred=len(enrolled) + rejected_referrals,
        reached=len(enrolled),
        placed=sum(1 for j in enrolled if j.first_placement is not None),
        exited=len(exited),
        exits_with_known_status=len(known),
        in_sysselsattning_at_exit=len(occupied),
        goal_sysselsattning=programme.goal_sysselsattning,
    )
