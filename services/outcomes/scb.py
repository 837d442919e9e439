"""The monthly participant file an ESF project sends to SCB (Statistics Sweden), pseudonymously.

SCB's instructions for ESF projects: participants are reported in date order, a new participant
in the month their participation starts and the end date in the month it ends, once a month for
as long as the project runs; when an earlier month's file must change, that month's file and
every later one are sent again. Here a participation starts on its enrolment (the referral
date) and ends on the exit; a person who left and returned is one participant, with the first
start and the final end, as the ESF guidance counts them, so a return turns an earlier month's
end into a correction.

This module never sees an identity: it gives each month's rows by participant id, and a digest
of them, so that a later run can tell which months changed. The file with the personnummer is
written by the operator's command, which reads the identities from intake with an actor and a
reason, audited.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from services.outcomes.domain import Journey
from services.outcomes.safe_files import file_stem

Month = str  # YYYY-MM


@dataclass(frozen=True)
class ScbEntry:
    participant_id: str
    start: date
    end: date | None  # shown in the month it falls in, and in no earlier month

    def occurs_on(self, month: Month) -> date:
        """The day of the row in the month: its start, or else its end."""
        return self.start if month_of(self.start) == month else self.end or self.start


def month_of(day: date) -> Month:
    return f"{day.year:04d}-{day.month:02d}"


def months_between(first: Month, last: Month) -> list[Month]:
    year, month = (int(part) for part in first.split("-"))
    found = []
    while f"{year:04d}-{month:02d}" <= last:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def participations(journeys: Iterable[Journey], programme_id: str) -> list[ScbEntry]:
    """One entry per person in the programme: the first start, the final end (if ended)."""
    mine = sorted(
        (j for j in journeys if j.enrolled and j.programme_id == programme_id and j.referral_date),
        key=lambda j: j.participation,
    )
    first: dict[str, date] = {}
    last: dict[str, Journey] = {}
    for journey in mine:
        assert journey.referral_date is not None
        first.setdefault(journey.participant_id, journey.referral_date)
        last[journey.participant_id] = journey
    return [
        ScbEntry(pid, first[pid], last[pid].exit_date if last[pid].exited else None)
        for pid in sorted(first)
    ]


def monthly_rows(entries: Sequence[ScbEntry], through: Month) -> dict[Month, list[ScbEntry]]:
    """Each month's rows, from the first start through `through`, in date order. A month's
    row shows the end only if it has happened by the month's end."""
    if not entries:
        return {}
    months = months_between(min(month_of(e.start) for e in entries), through)
    rows: dict[Month, list[ScbEntry]] = {}
    for month in months:
        found = []
        for entry in entries:
            ended_by = entry.end if entry.end is not None and month_of(entry.end) <= month else None
            if month_of(entry.start) == month or (ended_by and month_of(ended_by) == month):
                found.append(ScbEntry(entry.participant_id, entry.start, ended_by))
        rows[month] = sorted(found, key=lambda e: (e.occurs_on(month), e.participant_id))
    return rows


def month_digest(rows: Sequence[ScbEntry]) -> str:
    """What a month's file says, pseudonymously: compared with an earlier run's to find the
    months that changed (without keeping anything that holds a personnummer)."""
    content = [
        [e.participant_id, e.start.isoformat(), e.end.isoformat() if e.end else None] for e in rows
    ]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def months_to_send(digests: Mapping[Month, str], sent: Mapping[Month, str]) -> list[Month]:
    """The months whose file goes to SCB now: from the first month that is new or changed since
    the files already sent, that month and every later one."""
    months = sorted(digests)
    for index, month in enumerate(months):
        if sent.get(month) != digests[month]:
            return months[index:]
    return []


def file_name(programme_id: str, month: Month) -> str:
    return f"scb-{file_stem(programme_id)}-{month}.csv"
