"""The Luhn check digit Swedish personnummer and organisationsnummer end with."""

from __future__ import annotations


def luhn_check_digit(digits: str) -> int:
    """The digit that makes `digits` + it pass the Luhn check (weights 2,1,2,1... from the left,
    as Skatteverket counts over the nine digits before the check digit)."""
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10


def valid_organisationsnummer(text: str) -> bool:
    digits = text.replace("-", "")
    # isascii(): str.isdigit() is true for every Unicode digit, which int() then reads.
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        return False
    # The third digit is at least 2 for organisations, which keeps them apart from personnummer.
    return int(digits[2]) >= 2 and luhn_check_digit(digits[:9]) == int(digits[9])


def organisationsnummer(first_nine: str) -> str:
    """A valid number from nine digits: for fixtures and the demo."""
    return f"{first_nine[:6]}-{first_nine[6:9]}{luhn_check_digit(first_nine)}"
