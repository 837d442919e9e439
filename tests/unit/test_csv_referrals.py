"""A case system's CSV export read row by row: one bad row is answered, the others go on."""

from __future__ import annotations

from datetime import date

import pytest

from services.gateway.csv_referrals import UnreadableFile, read_referrals
from services.intake.personnummer import format_with_check

PERSON = format_with_check(date(1990, 5, 17), 234)


def test_a_semicolon_export_with_a_byte_order_mark_is_read_with_lists_and_yes_no() -> None:
    raw = (
        "\ufeffreferral_id;personnummer;programme_id;income_support;target_groups;referral_date\n"
        f"1380-1;{PERSON};halmstad-150;ja;langtidsarbetslosa|unga;2026-03-02\n"
    ).encode()

    [row] = read_referrals(raw, "1380")

    assert row.errors == []
    assert row.referral is not None
    assert row.referral.municipality == "1380"
    assert row.referral.income_support is True
    assert [group.value for group in row.referral.target_groups] == ["langtidsarbetslosa", "unga"]


def test_a_bad_row_is_answered_with_where_it_is_wrong_and_never_with_its_value() -> None:
    raw = (
        "referral_id,personnummer,programme_id,income_support,referral_date\n"
        f"1380-1,{PERSON},halmstad-150,nej,2026-03-02\n"
        f"1380-2,{PERSON},halmstad-150,kanske,2026-03-02\n"
        f"1380-3,{PERSON},halmstad-150,ja,den andra mars\n"
        "1380-4,too,few\n"
    ).encode()

    rows = read_referrals(raw, "1380")

    assert [row.referral is not None for row in rows] == [True, False, False, False]
    assert [e.location for e in rows[1].errors] == ["income_support"]
    assert [e.location for e in rows[2].errors] == ["referral_date"]
    assert PERSON not in repr([row.errors for row in rows])


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe not utf-8",
        b"referral_id,shoe_size\n1,42\n",
        b"referral_id,referral_id\n1,2\n",
        b'referral_id,personnummer\n"unclosed,1\n',
        b"referral_id\x00\n",
    ],
)
def test_a_file_that_is_not_a_referral_export_is_refused_as_a_whole(raw: bytes) -> None:
    with pytest.raises(UnreadableFile):
        read_referrals(raw, "1380")


def test_a_file_of_more_rows_than_the_bound_is_refused() -> None:
    raw = ("referral_id\n" + "x\n" * 5_001).encode()

    with pytest.raises(UnreadableFile):
        read_referrals(raw, "1380")
