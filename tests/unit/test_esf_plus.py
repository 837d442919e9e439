"""The ESF+ participant indicators (Regulation (EU) 2021/1057, Annex I) by gender, against counts
made by hand: a returning participant counted once, entry facts of the first participation,
results of the final exit, "upon leaving" as within four weeks, small counts hidden."""

from dataclasses import replace
from datetime import date
from typing import Any

from services.outcomes.domain import Journey, Outcome
from services.outcomes.esf_plus import esf_plus_rows
from services.outcomes.indicators import Context
from shared.contracts.vocabulary import (
    EducationLevel,
    FollowUpPoint,
    Gender,
    LabourMarketStatus,
    OutcomeStatus,
)
from tests.unit.factories import programme

L, E, S = LabourMarketStatus, EducationLevel, OutcomeStatus
KALMAR = programme(
    programme_id="kalmar", period_start=date(2026, 1, 1), period_end=date(2026, 12, 31)
)


def person(
    pid: str,
    gender: Gender,
    age: int,
    status: LabourMarketStatus | None,
    level: EducationLevel | None,
    **more: Any,
) -> Journey:
    return Journey(
        programme_id="kalmar",
        participant_id=pid,
        enrolled=True,
        gender=gender,
        age_at_referral=age,
        referral_date=date(2026, 2, 1),
        labour_market_status=status,
        education_level=level,
        **more,
    )


def left(journey: Journey, **answers: OutcomeStatus) -> Journey:
    return replace(
        journey,
        exited=True,
        exit_date=date(2026, 6, 1),
        outcomes={FollowUpPoint(point): Outcome(status) for point, status in answers.items()},
    )


W, M, N = Gender.FEMALE, Gender.MALE, Gender.NON_BINARY
JOURNEYS = [
    left(person("w1", W, 17, L.UNEMPLOYED, E.ISCED_0_2), vid_avslut=S.JOB_SEEKING),
    # w1 returned: one participant, counted by the first entry and the final exit.
    left(
        replace(person("w1", W, 17, L.EMPLOYED, E.ISCED_5_8), participation=2),
        vid_avslut=S.JOB_SEEKING,
        **{"4_veckor": S.UNSUBSIDISED_WORK},
    ),
    person("w2", W, 18, L.LONG_TERM_UNEMPLOYED, E.ISCED_0_2),
    person("w3", W, 29, L.LONG_TERM_UNEMPLOYED, E.ISCED_3_4),
    left(person("w4", W, 30, L.INACTIVE, E.ISCED_5_8)),
    person("w5", W, 55, L.EMPLOYED, None),
    person("w6", W, 60, None, E.ISCED_0_2),
    left(person("m1", M, 40, L.UNEMPLOYED, E.ISCED_3_4), vid_avslut=S.STUDIES),
    left(
        person("m2", M, 40, L.UNEMPLOYED, E.ISCED_3_4),
        vid_avslut=S.JOB_SEEKING,
        **{"6_manader": S.SUBSIDISED_WORK},
    ),
    *(person(f"m{i}", M, 40, L.UNEMPLOYED, E.ISCED_3_4) for i in (3, 4, 5)),
    left(person("n1", N, 25, L.INACTIVE, E.ISCED_5_8), vid_avslut=S.UNSUBSIDISED_WORK),
    replace(person("late", W, 30, L.INACTIVE, None), referral_date=date(2027, 1, 5)),
]


def test_the_esf_plus_indicators_count_each_participant_once_by_gender() -> None:
    rows = esf_plus_rows(JOURNEYS, Context.for_programme(KALMAR, date(2027, 6, 30)))
    counts = {
        r.indicator: (
            r.counts["kvinna"],
            r.counts["man"],
            r.counts["icke_binar"],
            r.counts["totalt"],
        )
        for r in rows
        if r.counts is not None
    }
    assert counts == {
        "deltagare totalt": (6, 5, 1, 12),
        "arbetslösa, inklusive långtidsarbetslösa": (3, 5, 0, 8),
        "långtidsarbetslösa": (2, 0, 0, 2),
        "utanför arbetskraften": (1, 0, 1, 2),
        "sysselsatta, inklusive egenföretagare": (1, 0, 0, 1),
        "arbetsmarknadsstatus ej uppgiven": (1, 0, 0, 1),
        "under 18 år": (1, 0, 0, 1),
        "18-29 år": (2, 0, 1, 3),
        "55 år och äldre": (2, 0, 0, 2),
        "högst förgymnasial utbildning (ISCED 0-2)": (3, 0, 0, 3),
        "gymnasial eller eftergymnasial icke-tertiär utbildning (ISCED 3-4)": (1, 5, 0, 6),
        "tertiär utbildning (ISCED 5-8)": (1, 0, 1, 2),
        "utbildningsnivå ej uppgiven": (1, 0, 0, 1),
        "avslutade deltagare totalt": (2, 2, 1, 5),
        "arbetssökande vid avslut": (0, 1, 0, 1),  # w1 was in work four weeks after
        "i utbildning vid avslut": (0, 1, 0, 1),
        "i arbete, inklusive egenföretagande, vid avslut": (1, 0, 1, 2),
        "i arbete, inklusive egenföretagande, sex månader efter avslut": (0, 1, 0, 1),
    }
    total = next(r for r in rows if r.indicator == "deltagare totalt")
    # One non-binary participant is hidden, and so is the next smallest group (the men).
    assert total.hidden == {"icke_binar", "man"}
    not_computed = [r.indicator for r in rows if r.counts is None]
    assert not_computed == [
        "fått en kvalifikation vid avslut",
        "förbättrad arbetsmarknadssituation sex månader efter avslut",
    ]
