"""Property-based: whatever text arrives as a personnummer, and whatever bytes as an event, intake
neither crashes nor accepts an invalid number."""

from __future__ import annotations

import json
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake import domain
from services.intake.personnummer import Personnummer, format_with_check
from shared.contracts.registry import UnreadableEvent, parse_event
from shared.luhn import luhn_check_digit
from tests.unit.factories import referral

REFERRAL_DATE = date(2026, 3, 2)
birth_dates = st.dates(min_value=date(1930, 1, 1), max_value=date(2025, 12, 31))


def _independently_valid(normalised: str) -> bool:
    """A second, simpler oracle: twelve digits, a real date, a Luhn check over the last ten."""
    if len(normalised) != 12 or not normalised.isdigit():
        return False
    day = int(normalised[6:8])
    try:
        date(int(normalised[:4]), int(normalised[4:6]), day - 60 if day > 60 else day)
    except ValueError:
        return False
    return luhn_check_digit(normalised[2:11]) == int(normalised[11])


@given(text=st.text(max_size=20))
def test_random_text_is_never_taken_for_a_personnummer(text: str) -> None:
    result = domain.identify(referral(personnummer=text), REFERRAL_DATE)
    if isinstance(result, Personnummer):
        assert _independently_valid(result.normalised)


@given(
    born=birth_dates,
    serial=st.integers(0, 999),
    position=st.integers(2, 11),
    digit=st.integers(0, 9),
)
def test_one_wrong_digit_in_a_valid_number_is_always_caught(
    born: date, serial: int, position: int, digit: int
) -> None:
    valid = format_with_check(born, serial)
    if valid[position] == str(digit):
        digit = (digit + 1) % 10
    mutated = valid[:position] + str(digit) + valid[position + 1 :]
    assert isinstance(
        domain.identify(referral(personnummer=mutated), REFERRAL_DATE), domain.Rejection
    )


@given(born=birth_dates, serial=st.integers(0, 999))
def test_every_valid_number_is_accepted_in_every_form(born: date, serial: int) -> None:
    twelve = format_with_check(born, serial)
    on = max(REFERRAL_DATE, born + timedelta(days=1))
    forms = [twelve, f"{twelve[:8]}-{twelve[8:]}"]
    if (on.year - born.year) < 99:
        forms += [f"{twelve[2:8]}-{twelve[8:]}", twelve[2:]]
    for form in forms:
        person = domain.identify(referral(personnummer=form, referral_date=on), on)
        assert isinstance(person, Personnummer), form
        assert person.normalised == twelve


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_bytes_are_either_an_event_or_unreadable_with_a_reason(raw: bytes) -> None:
    try:
        parse_event(raw)
    except UnreadableEvent as error:
        assert error.code in {"INVALID_JSON", "UNKNOWN_EVENT_TYPE", "SCHEMA_VIOLATION"}
        assert error.reason
