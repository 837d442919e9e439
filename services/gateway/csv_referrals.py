"""Referrals as a case system exports them: a CSV file with a header row, one referral per
row. Each row is read into the contract's referral on its own, so one bad row is answered with
what was wrong and the others go on. Comma or semicolon separated (Excel in Swedish writes
semicolons), UTF-8 with or without a byte order mark; lists within a cell are separated by `|`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from services.gateway.problems import FieldError
from shared.contracts.municipal import ReferralReceived

MAX_ROWS: Final = 5_000
MAX_CELL: Final = 500
# The columns a file may have; referral_id, personnummer, programme_id, income_support and
# referral_date are required. Lists (target_groups, consents) are separated by "|".
COLUMNS: Final = (
    "referral_id",
    "personnummer",
    "municipality",
    "programme_id",
    "income_support",
    "target_groups",
    "referral_date",
    "gender",
    "protected_identity",
    "name",
    "consents",
    "labour_market_status",
    "education_level",
)
_LISTS: Final = frozenset({"target_groups", "consents"})
_TRUE: Final = frozenset({"ja", "j", "true", "1", "yes", "x"})
_FALSE: Final = frozenset({"nej", "n", "false", "0", "no", ""})


class UnreadableFile(ValueError):
    """The file as a whole cannot be read (not text, no header, too many rows)."""


@dataclass(frozen=True)
class Row:
    number: int  # 1 is the first row after the header
    referral: ReferralReceived | None
    errors: list[FieldError] = field(default_factory=list)


def read_referrals(raw: bytes, kommunkod: str) -> list[Row]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile("the file is not UTF-8 text") from None
    if "\x00" in text:
        raise UnreadableFile("the file is not text")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise UnreadableFile("the file is empty") from None
    except csv.Error:
        raise UnreadableFile("the header row is not CSV") from None
    unknown = [name for name in header if name not in COLUMNS]
    if unknown or len(set(header)) != len(header):
        raise UnreadableFile(f"unknown or repeated columns; the columns are: {', '.join(COLUMNS)}")
    rows = []
    try:
        for number, cells in enumerate(reader, start=1):
            if number > MAX_ROWS:
                raise UnreadableFile(f"more than {MAX_ROWS} rows: split the file")
            if not any(cell.strip() for cell in cells):
                continue
            rows.append(_row(number, header, cells, kommunkod))
    except csv.Error:
        raise UnreadableFile("a row is not CSV (an unclosed quote?)") from None
    return rows


def _row(number: int, header: list[str], cells: list[str], kommunkod: str) -> Row:
    if len(cells) != len(header):
        return Row(number, None, [FieldError(location="row", message="wrong number of cells")])
    values: dict[str, Any] = {"municipality": kommunkod}
    errors = []
    for name, given in zip(header, cells, strict=True):
        cell = given.strip()
        if len(cell) > MAX_CELL:
            errors.append(FieldError(location=name, message="too long"))
        elif name in _LISTS:
            values[name] = [part.strip() for part in cell.split("|") if part.strip()]
        elif name in {"income_support", "protected_identity"}:
            if cell.lower() not in _TRUE | _FALSE:
                errors.append(FieldError(location=name, message="ja or nej"))
            values[name] = cell.lower() in _TRUE
        elif cell:
            values[name] = cell
    if errors:
        return Row(number, None, errors)
    try:
        return Row(number, ReferralReceived.model_validate(values))
    except ValidationError as error:
        return Row(
            number,
            None,
            [
                FieldError(
                    location=".".join(str(part) for part in e.get("loc", ()))[:500] or "row",
                    message=str(e.get("msg", "invalid"))[:500],
                )
                for e in error.errors(include_input=False)[:10]
            ],
        )
