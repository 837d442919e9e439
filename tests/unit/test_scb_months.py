"""SCB's monthly ESF participant file, pseudonymously: a start in its month, an end in its
month, one participant for a return, and a correction re-issuing its month and every later one."""

from datetime import date

from services.outcomes.domain import Journey
from services.outcomes.scb import month_digest, monthly_rows, months_to_send, participations


def journey(pid: str, start: date, end: date | None = None, n: int = 1) -> Journey:
    return Journey(
        programme_id="kalmar",
        participant_id=pid,
        enrolled=True,
        participation=n,
        referral_date=start,
        exited=end is not None,
        exit_date=end,
    )


def rows(journeys: list[Journey], through: str) -> dict[str, list[tuple[str, str, str | None]]]:
    return {
        month: [
            (e.participant_id, e.start.isoformat(), e.end.isoformat() if e.end else None)
            for e in found
        ]
        for month, found in monthly_rows(participations(journeys, "kalmar"), through).items()
    }


def test_each_month_holds_the_starts_and_ends_that_happened_in_it_in_date_order() -> None:
    history = [
        journey("b", date(2026, 1, 20), date(2026, 3, 5)),
        journey("a", date(2026, 1, 10)),
        journey("c", date(2026, 3, 1), date(2026, 3, 31)),
    ]
    assert rows(history, "2026-04") == {
        "2026-01": [("a", "2026-01-10", None), ("b", "2026-01-20", None)],
        "2026-02": [],
        "2026-03": [("c", "2026-03-01", "2026-03-31"), ("b", "2026-01-20", "2026-03-05")],
        "2026-04": [],
    }


def test_a_return_is_one_participant_and_corrects_the_month_of_the_earlier_end() -> None:
    before = [journey("a", date(2026, 1, 10), date(2026, 2, 14))]
    after = [*before, journey("a", date(2026, 4, 2), date(2026, 5, 20), n=2)]
    assert rows(before, "2026-05")["2026-02"] == [("a", "2026-01-10", "2026-02-14")]
    corrected = rows(after, "2026-05")
    assert corrected["2026-02"] == []  # not the end any more
    assert corrected["2026-05"] == [("a", "2026-01-10", "2026-05-20")]
    sent = {
        m: month_digest(r)
        for m, r in monthly_rows(participations(before, "kalmar"), "2026-05").items()
    }
    now = {
        m: month_digest(r)
        for m, r in monthly_rows(participations(after, "kalmar"), "2026-05").items()
    }
    # February changed: it and every later month are sent again.
    assert months_to_send(now, sent) == ["2026-02", "2026-03", "2026-04", "2026-05"]
    assert months_to_send(now, now) == []
    # A new month after those sent: only it.
    later = {
        m: month_digest(r)
        for m, r in monthly_rows(participations(after, "kalmar"), "2026-06").items()
    }
    assert months_to_send(later, now) == ["2026-06"]
