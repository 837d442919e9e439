"""Form fields made the contract's events: every value bounded and validated by the same models
as on Kafka and the API; a form that does not fit is shown again with what was wrong."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from shared.contracts.envelope import EventData
from shared.contracts.municipal import OutcomeReported
from shared.contracts.partner import (
    AttendanceReported,
    ConcernReported,
    PlacementChangeReported,
    PlacementEndReported,
    SupportCheckInReported,
)
from shared.contracts.vocabulary import OutcomeSource

MAX_FIELD = 2_000


class FormInvalid(ValueError):
    """What was wrong, in Swedish, without repeating the input."""


def _text(form: Mapping[str, Any], name: str, default: str = "") -> str:
    value = form.get(name, default)
    if not isinstance(value, str) or len(value) > MAX_FIELD:
        raise FormInvalid(f"Fältet {name} är för långt eller saknas.")
    return value.strip()


def _number(form: Mapping[str, Any], name: str) -> float:
    raw = _text(form, name).replace(",", ".")
    try:
        return float(raw)
    except ValueError:
        raise FormInvalid(f"Fältet {name} ska vara ett tal.") from None


def _model(model: type[EventData], values: dict[str, Any]) -> EventData:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        fields = sorted({str(e["loc"][0]) for e in error.errors() if e.get("loc")})
        raise FormInvalid(
            "Uppgifterna stämmer inte: " + (", ".join(fields) or "kontrollera formuläret") + "."
        ) from None


def offer_answer(form: Mapping[str, Any], placement_id: str, today: date) -> EventData:
    answer = _text(form, "svar")
    if answer not in {"acceptera", "avboj"}:
        raise FormInvalid("Välj att acceptera eller avböja.")
    return _model(
        PlacementChangeReported,
        {
            "placement_id": placement_id,
            "action": answer,
            "on": today,
            "reason": _text(form, "orsak"),
            "reported_by": _text(form, "rapporterad_av"),
        },
    )


def start(form: Mapping[str, Any], placement_id: str) -> EventData:
    return _model(
        PlacementChangeReported,
        {"placement_id": placement_id, "action": "starta", "on": _text(form, "datum")},
    )


_CHANGES = frozenset({"pausa", "ateruppta", "andra_timmar"})


def change(form: Mapping[str, Any], placement_id: str) -> EventData:
    """A pause (with its reason), a resumption or new hours per week."""
    action = _text(form, "andring")
    if action not in _CHANGES:
        raise FormInvalid("Välj pausa, återuppta eller ändra timmar.")
    hours = _text(form, "timmar_per_vecka")
    if action == "andra_timmar" and not hours:
        raise FormInvalid("Ange de nya timmarna per vecka.")
    return _model(
        PlacementChangeReported,
        {
            "placement_id": placement_id,
            "action": action,
            "on": _text(form, "datum"),
            "reason": _text(form, "orsak"),
            **({"hours_per_week": hours} if action == "andra_timmar" else {}),
        },
    )


def concern(form: Mapping[str, Any], placement_id: str) -> EventData:
    """A note of concern: it stays in placement, for the participant's caseworker."""
    note = _text(form, "anteckning")
    if not note:
        raise FormInvalid("Skriv vad oron gäller.")
    return _model(
        ConcernReported,
        {"placement_id": placement_id, "on": _text(form, "datum"), "note": note},
    )


def attendance(form: Mapping[str, Any], placement_id: str) -> EventData:
    absences = []
    for row in ("1", "2"):
        reason = _text(form, f"franvaro_orsak_{row}")
        if reason:
            absences.append({"reason": reason, "hours": _number(form, f"franvaro_timmar_{row}")})
    return _model(
        AttendanceReported,
        {
            "placement_id": placement_id,
            "period_start": _text(form, "fran"),
            "period_end": _text(form, "till"),
            "expected_hours": _number(form, "planerade_timmar"),
            "attended_hours": _number(form, "narvarande_timmar"),
            "absences": absences,
            **(
                {"participant_confirmed_on": _text(form, "till")}
                if form.get("bekraftad") == "ja"
                else {}
            ),
        },
    )


def end(form: Mapping[str, Any], placement_id: str) -> EventData:
    return _model(
        PlacementEndReported,
        {
            "placement_id": placement_id,
            "reason": _text(form, "orsak"),
            "end_date": _text(form, "datum"),
        },
    )


def check_in(
    form: Mapping[str, Any], check_in_id: str, placement_id: str, today: date
) -> EventData:
    return _model(
        SupportCheckInReported,
        {
            "check_in_id": check_in_id,
            "placement_id": placement_id,
            "on": today,
            "status": _text(form, "status"),
            "note": _text(form, "anteckning"),
        },
    )


def follow_up_answer(
    form: Mapping[str, Any],
    *,
    report_id: str,
    participant_id: str,
    programme_id: str,
    kommunkod: str,
    follow_up: str,
    participation: int | None,
) -> EventData:
    return _model(
        OutcomeReported,
        {
            "report_id": report_id,
            "participant_id": participant_id,
            "programme_id": programme_id,
            "municipality": kommunkod,
            "follow_up": follow_up,
            "status": _text(form, "status"),
            "source": OutcomeSource.CASEWORKER,
            "observed_on": _text(form, "datum"),
            **({"participation": participation} if participation is not None else {}),
        },
    )
