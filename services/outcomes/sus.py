"""The registrations a Samordningsförbund makes in SUS, pseudonymously.

SUS (the cross-sector follow-up system of financial coordination, run by Försäkringskassan)
registers a participant in ("inregistrering") each time they start an insats and out
("utregistrering") each time they leave it: a participant may take part in an insats several
times, and in several insatser at once, and each counts on its own. At registration in and out
the participant's occupation, sources of income and education are recorded, and at the end the
reason for leaving. A participant who has not consented, or who has protected identity, is
registered anonymously.

Here an insats is a programme; each enrolment is one registration, with the other programmes
the person was enrolled in at the same time. What Insats does not know is left empty, not
guessed. Pure: journeys in, rows out; identities are joined by the operator's command.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

from services.outcomes.domain import WORK, Journey, Outcome
from services.outcomes.safe_files import file_stem
from shared.contracts.vocabulary import (
    EducationLevel,
    FollowUpPoint,
    LabourMarketStatus,
    OutcomeStatus,
)

OCCUPATION_BEFORE = {
    LabourMarketStatus.EMPLOYED: "forvarvsarbete",
    LabourMarketStatus.UNEMPLOYED: "aktivt_arbetssokande",
    LabourMarketStatus.LONG_TERM_UNEMPLOYED: "aktivt_arbetssokande",
    LabourMarketStatus.INACTIVE: "ovrigt",
}
EDUCATION = {
    EducationLevel.ISCED_0_2: "forgymnasial",
    EducationLevel.ISCED_3_4: "gymnasial",
    EducationLevel.ISCED_5_8: "eftergymnasial",
}


@dataclass(frozen=True)
class SusRow:
    participant_id: str
    programme_id: str
    participation: int
    gender: str
    age: int | None
    registered_in: date
    registered_out: date | None
    concurrent: tuple[str, ...]  # other programmes the person was enrolled in meanwhile
    occupation_before: str
    occupation_after: str
    income_before: str
    income_after: str
    education_before: str
    reason: str


def occupation_after(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    if outcome.status in WORK:
        return "forvarvsarbete"
    if outcome.status is OutcomeStatus.STUDIES:
        return "studier"
    if outcome.status is OutcomeStatus.JOB_SEEKING:
        return "aktivt_arbetssokande"
    return "ovrigt"


def income_after(outcome: Outcome | None) -> str:
    """A source of income after the insats, where the answer tells one."""
    if outcome is None:
        return ""
    if outcome.income_support:
        return "forsorjningsstod"
    if outcome.status in WORK:
        return "lon"
    if outcome.status is OutcomeStatus.STUDIES and outcome.studies_with_student_aid:
        return "studiemedel"
    return ""


def _overlaps(a: Journey, b: Journey) -> bool:
    if a.referral_date is None or b.referral_date is None:
        return False
    a_end, b_end = a.exit_date or date.max, b.exit_date or date.max
    return a.referral_date <= b_end and b.referral_date <= a_end


def sus_rows(
    journeys: Sequence[Journey], programme_id: str, period: tuple[date, date]
) -> list[SusRow]:
    """One row per enrolment in the programme that was open at some time in the period, in
    order of registration."""
    start, end = period
    enrolled = [j for j in journeys if j.enrolled and j.referral_date is not None]
    rows = []
    for journey in enrolled:
        assert journey.referral_date is not None
        if journey.programme_id != programme_id or journey.referral_date > end:
            continue
        if journey.exit_date is not None and journey.exit_date < start:
            continue
        at_exit = journey.outcomes.get(FollowUpPoint.AT_EXIT) if journey.exited else None
        reason = journey.left_because
        rows.append(
            SusRow(
                participant_id=journey.participant_id,
                programme_id=programme_id,
                participation=journey.participation,
                gender=journey.gender.value if journey.gender else "",
                age=journey.age_at_referral,
                registered_in=journey.referral_date,
                registered_out=journey.exit_date if journey.exited else None,
                concurrent=tuple(
                    sorted(
                        {
                            other.programme_id
                            for other in enrolled
                            if other.participant_id == journey.participant_id
                            and other.programme_id != programme_id
                            and _overlaps(journey, other)
                        }
                    )
                ),
                occupation_before=OCCUPATION_BEFORE.get(journey.labour_market_status, "")
                if journey.labour_market_status
                else "",
                occupation_after=occupation_after(at_exit),
                income_before="forsorjningsstod" if journey.income_support else "",
                income_after=income_after(at_exit),
                education_before=EDUCATION.get(journey.education_level, "")
                if journey.education_level
                else "",
                reason=reason.value
                if reason
                else (journey.exit_end_reason.value if journey.exit_end_reason else ""),
            )
        )
    return sorted(rows, key=lambda r: (r.registered_in, r.participant_id, r.participation))


def file_name(programme_id: str) -> str:
    return f"sus-{file_stem(programme_id)}.csv"


def rows_digest(rows: Sequence[SusRow]) -> str:
    """What the file says, pseudonymously (its identities are not part of it)."""
    return hashlib.sha256(json.dumps([asdict(r) for r in rows], default=str).encode()).hexdigest()
