"""A partner's forms become the contract's events, bounded by the same models as on Kafka; a
form that does not fit says what was wrong in Swedish, without repeating the input."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.portal import forms
from shared.contracts.envelope import EventData
from shared.contracts.partner import ConcernReported, PlacementChangeReported
from shared.contracts.vocabulary import PlacementAction


def test_a_pause_carries_its_day_and_reason() -> None:
    sent = forms.change(
        {"andring": "pausa", "datum": "2026-04-06", "orsak": "Sjukskriven två veckor"}, "pl-1"
    )
    assert isinstance(sent, PlacementChangeReported)
    assert (sent.action, sent.on, sent.reason) == (
        PlacementAction.PAUSE,
        date(2026, 4, 6),
        "Sjukskriven två veckor",
    )
    assert sent.hours_per_week is None


def test_new_hours_per_week_are_sent_only_with_a_change_of_hours() -> None:
    changed = forms.change(
        {"andring": "andra_timmar", "datum": "2026-04-06", "timmar_per_vecka": "25"}, "pl-1"
    )
    assert isinstance(changed, PlacementChangeReported) and changed.hours_per_week == 25
    resumed = forms.change(
        {"andring": "ateruppta", "datum": "2026-04-20", "timmar_per_vecka": "25"}, "pl-1"
    )
    assert isinstance(resumed, PlacementChangeReported) and resumed.hours_per_week is None


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"andring": "andra_timmar", "datum": "2026-04-06"}, "Ange de nya timmarna"),
        ({"andring": "andra_timmar", "datum": "2026-04-06", "timmar_per_vecka": "41"}, "stämmer"),
        ({"andring": "starta", "datum": "2026-04-06"}, "Välj pausa"),
        ({"andring": "pausa", "datum": "i morgon"}, "stämmer inte: on"),
    ],
)
def test_a_change_that_does_not_fit_is_refused_with_what_was_wrong(
    fields: dict[str, str], said: str
) -> None:
    with pytest.raises(forms.FormInvalid, match=said):
        forms.change(fields, "pl-1")


def test_a_concern_is_a_note_with_its_day() -> None:
    sent = forms.concern({"datum": "2026-04-07", "anteckning": "Verkar nedstämd"}, "pl-1")
    assert isinstance(sent, ConcernReported)
    assert (sent.placement_id, sent.on, sent.note) == ("pl-1", date(2026, 4, 7), "Verkar nedstämd")


@pytest.mark.parametrize("note", ["", "   ", "x" * 2_001])
def test_a_concern_without_a_note_or_past_its_bound_is_refused(note: str) -> None:
    with pytest.raises(forms.FormInvalid):
        forms.concern({"datum": "2026-04-07", "anteckning": note}, "pl-1")


_FIELDS = st.sampled_from(
    [
        "svar",
        "orsak",
        "rapporterad_av",
        "datum",
        "andring",
        "timmar_per_vecka",
        "anteckning",
        "fran",
        "till",
        "planerade_timmar",
        "narvarande_timmar",
        "franvaro_orsak_1",
        "franvaro_timmar_1",
        "bekraftad",
        "status",
        "x",
    ]
)
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["pausa", "andra_timmar", "acceptera", "2026-04-06", "25", "1e309", "nan"]),
    st.text(min_size=1_990, max_size=2_010),
)


@given(st.dictionaries(_FIELDS, _VALUES, max_size=10))
def test_whatever_a_form_posts_becomes_an_event_or_a_reason_never_an_error(
    fields: dict[str, str],
) -> None:
    makers: list[Callable[[dict[str, str]], EventData]] = [
        lambda f: forms.offer_answer(f, "pl-1", date(2026, 4, 1)),
        lambda f: forms.start(f, "pl-1"),
        lambda f: forms.change(f, "pl-1"),
        lambda f: forms.attendance(f, "pl-1"),
        lambda f: forms.concern(f, "pl-1"),
        lambda f: forms.end(f, "pl-1"),
        lambda f: forms.check_in(f, "c-1", "pl-1", date(2026, 4, 1)),
    ]
    for make in makers:
        with contextlib.suppress(forms.FormInvalid):
            make(fields)
