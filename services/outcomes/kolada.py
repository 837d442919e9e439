"""Kolada's "resultat vid avslut" as a municipality reports it: one figure a year across all of
its labour-market programmes, each person counted once, beside each programme's own figure.

Kolada (RKA's database of municipal statistics) asks each municipality for the share of the
participants who left its labour-market activities in the year who went on to work lasting at
least a month that is not a municipal labour-market job, or to studies that qualify for student
aid: the rule of `resultat_vid_avslut@2`, counted here over people rather than enrolments. A
person who left more than once in the year (two programmes, or a return) counts once, by the
last of those exits: where they ended the year's activity. A person counts for the municipality
they lived in when they left. Pure: journeys in, rows out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from services.outcomes.domain import Journey
from services.outcomes.indicators import is_small, kolada_result

ALL_PROGRAMMES = "alla program"


@dataclass(frozen=True)
class KoladaRow:
    municipality: str
    year: int
    scope: str  # ALL_PROGRAMMES, or a programme id
    exited: int  # people (for a programme: enrolments) who left in the year
    results: int

    @property
    def suppressed(self) -> bool:
        return is_small(self.exited)

    @property
    def share(self) -> float | None:
        return self.results / self.exited if self.exited else None


def _exits_in(
    journeys: Iterable[Journey], year: int, as_of: date | None
) -> list[tuple[str, Journey]]:
    return [
        (j.home_on(j.exit_date) or "", j)
        for j in journeys
        if j.enrolled
        and j.exited
        and j.exit_date is not None
        and j.exit_date.year == year
        and (as_of is None or j.exit_date <= as_of)
    ]


def municipal_results(
    journeys: Iterable[Journey], year: int, as_of: date | None = None
) -> list[KoladaRow]:
    """Per municipality: the figure across all programmes (people), then each programme's
    (enrolments, as resultat_vid_avslut@2 counts them), in municipality and programme order;
    exits up to `as_of`."""
    exits = _exits_in(journeys, year, as_of)
    last: dict[tuple[str, str], Journey] = {}
    for home, journey in sorted(exits, key=lambda e: (e[1].exit_date, e[1].participation)):
        last[(home, journey.participant_id)] = journey
    rows: list[KoladaRow] = []
    for municipality in sorted({home for home, _ in exits}):
        people = [j for (home, _), j in last.items() if home == municipality]
        rows.append(
            KoladaRow(
                municipality,
                year,
                ALL_PROGRAMMES,
                len(people),
                sum(1 for j in people if kolada_result(j)),
            )
        )
        mine = [j for home, j in exits if home == municipality]
        for programme_id in sorted({j.programme_id for j in mine}):
            theirs = [j for j in mine if j.programme_id == programme_id]
            rows.append(
                KoladaRow(
                    municipality,
                    year,
                    programme_id,
                    len(theirs),
                    sum(1 for j in theirs if kolada_result(j)),
                )
            )
    return rows
