"""Small builders of contract objects for tests: defaults that pass, overrides that matter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from services.intake.personnummer import format_with_check
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import (
    AgreementKind,
    AgreementSigned,
    Eligibility,
    OutcomeReported,
    PriorityRule,
    ProgrammeDefined,
    ReferralReceived,
)
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.contracts.vocabulary import (
    ActivityType,
    EndReason,
    FollowUpPoint,
    Gender,
    OutcomeSource,
    OutcomeStatus,
    TargetGroup,
)


def programme(**changes: Any) -> ProgrammeDefined:
    values: dict[str, Any] = {
        "programme_id": "halmstad-150",
        "name": "Halmstad 150",
        "owner": "Halmstads kommun",
        "municipalities": ["1380"],
        "period_start": date(2026, 1, 1),
        "period_end": date(2027, 12, 31),
        "capacity": 150,
        "planned_participants": 150,
        "goal_sysselsattning": 0.6,
        "eligibility": Eligibility(min_age=18, max_age=64),
        "priority": PriorityRule.REFERRAL_DATE,
        "activities": [ActivityType.PRAKTIK],
    }
    values.update(changes)
    return ProgrammeDefined(**values)


def referral(**changes: Any) -> ReferralReceived:
    values: dict[str, Any] = {
        "referral_id": "1380-1",
        "personnummer": format_with_check(date(1990, 5, 17), 234),
        "municipality": "1380",
        "programme_id": "halmstad-150",
        "income_support": True,
        "target_groups": [TargetGroup.LONG_TERM_UNEMPLOYED],
        "referral_date": date(2026, 3, 2),
    }
    values.update(changes)
    return ReferralReceived(**values)


def agreement(**changes: Any) -> AgreementSigned:
    values: dict[str, Any] = {
        "agreement_id": "a-1",
        "partner_id": "erikshjalpen",
        "programme_id": "halmstad-150",
        "places": 10,
        "activities": [ActivityType.ARBETSTRANING],
        "period_start": date(2026, 1, 1),
        "period_end": date(2027, 12, 31),
        "kind": AgreementKind.SOCIAL_CLAUSE,
    }
    values.update(changes)
    return AgreementSigned(**values)


def participant_enrolled(participant_id: str, **changes: Any) -> ParticipantEnrolled:
    values: dict[str, Any] = {
        "participant_id": participant_id,
        "referral_id": f"r-{participant_id}",
        "programme_id": "halmstad-150",
        "municipality": "1380",
        "birth_year": 1990,
        "age_at_referral": 35,
        "gender": Gender.FEMALE,
        "income_support": True,
        "target_groups": [],
        "referral_date": date(2026, 3, 2),
    }
    values.update(changes)
    return ParticipantEnrolled(**values)


def placement_ended(participant_id: str, **changes: Any) -> PlacementEnded:
    values: dict[str, Any] = {
        "placement_id": f"pl-{participant_id}",
        "participant_id": participant_id,
        "programme_id": "halmstad-150",
        "partner_id": "erikshjalpen",
        "municipality": "1380",
        "start_date": date(2026, 4, 1),
        "end_date": date(2026, 9, 30),
        "reason": EndReason.COMPLETED,
        "exits_programme": True,
    }
    values.update(changes)
    return PlacementEnded(**values)


def outcome_reported(participant_id: str, **changes: Any) -> OutcomeReported:
    values: dict[str, Any] = {
        "report_id": f"exit-{participant_id}",
        "participant_id": participant_id,
        "programme_id": "halmstad-150",
        "municipality": "1380",
        "follow_up": FollowUpPoint.AT_EXIT,
        "status": OutcomeStatus.UNSUBSIDISED_WORK,
        "source": OutcomeSource.CASEWORKER,
        "observed_on": date(2026, 9, 30),
    }
    values.update(changes)
    return OutcomeReported(**values)


def placement_started(participant_id: str, **changes: Any) -> PlacementStarted:
    values: dict[str, Any] = {
        "placement_id": f"pl-{participant_id}",
        "participant_id": participant_id,
        "programme_id": "halmstad-150",
        "partner_id": "erikshjalpen",
        "agreement_id": "iop-1",
        "activity": ActivityType.ARBETSTRANING,
        "municipality": "1380",
        "start_date": date(2026, 4, 1),
        "waited_days": 30,
        "decision": "first in line",
    }
    values.update(changes)
    return PlacementStarted(**values)


def moment(day: int = 1, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)
