"""Swedish personal identity numbers (personnummer) and coordination numbers (samordningsnummer).

Accepted forms, as municipal systems send them:
    YYYYMMDDNNNN, YYYYMMDD-NNNN, YYMMDD-NNNN, YYMMDDNNNN, and YYMMDD+NNNN for people over 100.
The last digit is a Luhn check digit over the ten digits YYMMDDNNN. A samordningsnummer adds 60 to
the day of birth. A two-digit year is placed in the century that makes the person younger than
100 on the reference date (the day intake received the referral), or 100 or older with '+'.

Pure: no I/O, no clock. The reference date is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared.contracts.vocabulary import Gender
from shared.luhn import luhn_check_digit

# [0-9], not \d: \d matches every Unicode digit, and int() reads them, so "١٩٨٥..." would pass as a
# second spelling of the same number and give the person a second pseudonym.
_FORM = re.compile(
    r"^(?P<century>[0-9]{2})?(?P<yymmdd>[0-9]{6})(?P<sep>[-+]?)(?P<serial>[0-9]{3})(?P<check>[0-9])$"
)


class Problem(StrEnum):
    FORMAT = "format"
    CHECK_DIGIT = "check_digit"
    DATE = "date"
    FUTURE = "future"


@dataclass(frozen=True)
class InvalidPersonnummer(ValueError):
    problem: Problem
    message: str
    message_sv: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Personnummer:
    """A validated number, normalised to twelve digits YYYYMMDDNNNC."""

    normalised: str
    birth_date: date
    coordination: bool

    @property
    def gender(self) -> Gender:
        # The second-to-last digit: odd for men, even for women (legal gender).
        return Gender.MALE if int(self.normalised[10]) % 2 else Gender.FEMALE

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


def parse(text: str, reference: date) -> Personnummer:
    """Validate `text` as of `reference`; raise InvalidPersonnummer naming what is wrong."""
    match = _FORM.match(text.strip())
    if match is None:
        raise InvalidPersonnummer(
            Problem.FORMAT,
            "not a personnummer: expected YYYYMMDDNNNN, YYYYMMDD-NNNN or YYMMDD-NNNN",
            "inte ett personnummer: förväntade ÅÅÅÅMMDDNNNN, ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN",
        )
    century, yymmdd = match["century"], match["yymmdd"]
    serial, check, separator = match["serial"], match["check"], match["sep"]
    if century is not None and separator == "+":
        raise InvalidPersonnummer(
            Problem.FORMAT,
            "a '+' separator goes only with a two-digit year",
            "skiljetecknet '+' hör bara till tvåsiffrigt årtal",
        )
    if luhn_check_digit(yymmdd + serial) != int(check):
        raise InvalidPersonnummer(
            Problem.CHECK_DIGIT,
            "the check digit does not match",
            "kontrollsiffran stämmer inte",
        )
    month, day_field = int(yymmdd[2:4]), int(yymmdd[4:6])
    coordination = day_field > 60
    day = day_field - 60 if coordination else day_field
    year = (
        int(century + yymmdd[:2])
        if century is not None
        else _year_from_two_digits(int(yymmdd[:2]), month, day, separator == "+", reference)
    )
    try:
        born = date(year, month, day)
    except ValueError:
        raise InvalidPersonnummer(
            Problem.DATE,
            "the birth date does not exist",
            "födelsedatumet finns inte",
        ) from None
    if born > reference:
        raise InvalidPersonnummer(
            Problem.FUTURE,
            "the birth date is after the day the referral was received",
            "födelsedatumet är efter den dag remissen togs emot",
        )
    normalised = f"{year:04d}{month:02d}{day_field:02d}{serial}{check}"
    return Personnummer(normalised=normalised, birth_date=born, coordination=coordination)


def _year_from_two_digits(yy: int, month: int, day: int, centenarian: bool, reference: date) -> int:
    year = (reference.year // 100) * 100 + yy
    # The latest year ending in yy whose birthday in it is not after the reference date.
    if (year, month, day) > (reference.year, reference.month, reference.day):
        year -= 100
    if centenarian:
        year -= 100
    return year


def format_with_check(birth: date, serial: int, *, coordination: bool = False) -> str:
    """Build a valid twelve-digit number for a birth date and serial: for synthetic test data."""
    day = birth.day + (60 if coordination else 0)
    nine = f"{birth.year % 100:02d}{birth.month:02d}{day:02d}{serial:03d}"
    return f"{birth.year:04d}{birth.month:02d}{day:02d}{serial:03d}{luhn_check_digit(nine)}"
