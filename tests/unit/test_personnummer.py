from datetime import date

import pytest

from services.intake.personnummer import InvalidPersonnummer, Problem, format_with_check, parse
from shared.contracts.vocabulary import Gender
from shared.luhn import luhn_check_digit

REFERRAL = date(2026, 3, 15)


def test_the_check_digit_follows_luhn_over_the_nine_digits_before_it() -> None:
    # Skatteverket's own example: 811218-9876.
    assert luhn_check_digit("811218987") == 6


@pytest.mark.parametrize(
    "form",
    ["198112189876", "19811218-9876", "811218-9876", "8112189876"],
)
def test_every_form_municipal_systems_send_normalises_to_twelve_digits(form: str) -> None:
    assert parse(form, REFERRAL).normalised == "198112189876"


def test_a_wrong_check_digit_is_rejected_as_such() -> None:
    with pytest.raises(InvalidPersonnummer) as problem:
        parse("19811218-9875", REFERRAL)
    assert problem.value.problem is Problem.CHECK_DIGIT


def test_a_date_that_does_not_exist_is_rejected_even_with_a_valid_check_digit() -> None:
    thirtieth_of_february = "19900230123" + str(luhn_check_digit("900230123"))
    with pytest.raises(InvalidPersonnummer) as problem:
        parse(thirtieth_of_february, REFERRAL)
    assert problem.value.problem is Problem.DATE


def test_a_birth_date_after_the_referral_is_rejected() -> None:
    with pytest.raises(InvalidPersonnummer) as problem:
        parse(format_with_check(date(2026, 5, 1), 10), REFERRAL)
    assert problem.value.problem is Problem.FUTURE


@pytest.mark.parametrize("text", ["", "abc", "19811218-987", "19811218+9876", "1981121898761"])
def test_malformed_text_is_a_format_problem(text: str) -> None:
    with pytest.raises(InvalidPersonnummer) as problem:
        parse(text, REFERRAL)
    assert problem.value.problem is Problem.FORMAT


def test_a_samordningsnummer_adds_sixty_to_the_day_and_keeps_the_real_birth_date() -> None:
    number = format_with_check(date(1990, 4, 12), 234, coordination=True)
    person = parse(number, REFERRAL)
    assert number[6:8] == "72"
    assert person.coordination
    assert person.birth_date == date(1990, 4, 12)


def test_a_two_digit_year_is_placed_so_the_person_is_under_a_hundred() -> None:
    ten_digits = format_with_check(date(2010, 6, 1), 111)[2:]
    dash = f"{ten_digits[:6]}-{ten_digits[6:]}"
    assert parse(dash, REFERRAL).birth_date == date(2010, 6, 1)


def test_a_plus_sign_means_the_person_is_a_hundred_or_older() -> None:
    ten_digits = format_with_check(date(1920, 6, 1), 111)[2:]
    plus = f"{ten_digits[:6]}+{ten_digits[6:]}"
    assert parse(plus, REFERRAL).birth_date == date(1920, 6, 1)


def test_age_counts_birthdays_passed_on_the_reference_day() -> None:
    person = parse(format_with_check(date(2000, 3, 16), 1), REFERRAL)
    assert person.age_on(date(2026, 3, 15)) == 25
    assert person.age_on(date(2026, 3, 16)) == 26


def test_the_second_to_last_digit_carries_legal_gender() -> None:
    assert parse(format_with_check(date(1980, 1, 1), 2), REFERRAL).gender is Gender.FEMALE
    assert parse(format_with_check(date(1980, 1, 1), 3), REFERRAL).gender is Gender.MALE
