"""What the portal's pages show, folded from an organisation's own stream."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.gateway.portal.views import (
    PAGE_SIZE,
    Resident,
    caseworker_view,
    listing,
    page_number,
    partner_view,
)


def _placement(placement_id: str, status: str | None, **more: Any) -> dict[str, Any]:
    return {
        "type": "insats.partner-placement.updated.v1",
        "data": {"placement_id": placement_id, "partner_id": "hotellet", "status": status, **more},
    }


def _resident(
    source_type: str, subject: str, at: str = "2026-03-02", **facts: Any
) -> dict[str, Any]:
    return {
        "type": "insats.resident-event.v1",
        "data": {
            "source_event_id": f"{source_type}/{subject}/{at}",
            "source_type": source_type,
            "occurred_at": f"{at}T08:00:00Z",
            "municipality": "1380",
            "subject_id": subject,
            "facts": facts,
        },
    }


def test_a_partner_sees_each_placement_as_its_latest_update_says() -> None:
    view = partner_view(
        [
            _placement("pl-1", "erbjuden", offered_on="2026-03-10"),
            _placement("pl-2", "erbjuden"),
            _placement("pl-2", "accepterad"),
            _placement("pl-3", "pagar", start_date="2026-03-20"),
            _placement("pl-4", "avbojd"),
        ]
    )

    assert [p.placement_id for p in view.offers] == ["pl-1"]
    assert [p.placement_id for p in view.ongoing] == ["pl-2", "pl-3"]
    assert [p.placement_id for p in view.finished] == ["pl-4"]


def test_a_withdrawn_placement_and_its_check_ins_disappear() -> None:
    notice = {
        "type": "insats.partner-support.notice.v1",
        "data": {"placement_id": "pl-1", "check_in_id": "c-1", "due_date": "2026-06-01"},
    }

    kept = partner_view([_placement("pl-1", "avslutad"), notice])
    withdrawn = partner_view([_placement("pl-1", "avslutad"), notice, _placement("pl-1", None)])

    assert [c.check_in_id for c in kept.check_ins] == ["c-1"]
    assert withdrawn.placement("pl-1") is None
    assert withdrawn.check_ins == []


def test_a_caseworker_sees_who_waits_in_each_programme_longest_waiting_first() -> None:
    view = caseworker_view(
        [
            _resident(
                "insats.participant.enrolled.v1",
                "m-2",
                programme_id="p150",
                referral_date="2026-03-05",
            ),
            _resident(
                "insats.participant.enrolled.v1",
                "m-1",
                programme_id="p150",
                referral_date="2026-03-01",
            ),
            _resident(
                "insats.participant.enrolled.v1",
                "m-3",
                programme_id="p150",
                referral_date="2026-03-02",
            ),
            _resident("insats.placement.started.v1", "m-3", at="2026-03-20", partner_id="hotellet"),
        ],
        date(2026, 4, 1),
    )

    assert [r.participant_id for r in view.waiting["p150"]] == ["m-1", "m-2"]
    started = view.resident("m-3")
    assert started is not None
    assert started.standing == "i insats"
    assert [step.label for step in started.journey] == ["Inskriven", "Placering startad"]


def test_an_erased_resident_is_gone_from_every_list() -> None:
    view = caseworker_view(
        [
            _resident("insats.participant.enrolled.v1", "m-1", programme_id="p150"),
            _resident("insats.participant.erased.v1", "m-1"),
        ],
        date(2026, 4, 1),
    )

    assert view.residents == []
    assert view.waiting == {}


def test_follow_ups_past_due_and_unanswered_are_overdue() -> None:
    def due(subject: str, point: str, due_date: str) -> dict[str, Any]:
        return _resident(
            "insats.follow-up.due.v1",
            subject,
            follow_up_id=f"f-{subject}-{point}",
            programme_id="p150",
            follow_up=point,
            due_date=due_date,
            participation=1,
        )

    view = caseworker_view(
        [
            _resident("insats.participant.enrolled.v1", "m-1", programme_id="p150"),
            _resident("insats.participant.enrolled.v1", "m-2", programme_id="p150"),
            due("m-1", "3_manader", "2026-03-01"),
            due("m-1", "6_manader", "2026-09-01"),
            due("m-2", "3_manader", "2026-02-01"),
            _resident("insats.outcome.recorded.v1", "m-2", follow_up="3_manader", participation=1),
        ],
        date(2026, 4, 1),
    )

    assert [f.follow_up_id for f in view.overdue] == ["f-m-1-3_manader"]


def test_what_the_stream_says_is_shown_as_text_never_as_markup() -> None:
    from services.gateway.auth import Caller
    from services.gateway.portal.pages import _TEMPLATES
    from shared.contracts.tenants import Tenant

    hostile = '<script>alert("x")</script>'
    view = partner_view([_placement("pl-1", "erbjuden", municipal_contact=hostile)])
    page = _TEMPLATES.get_template("partner.html").render(
        who=Caller(Tenant.partner("hotellet"), "s", None, "partner-staff"),
        csrf="c",
        key=lambda: "k",
        view=view,
        today="2026-04-01",
        absence_reasons=[],
        end_reasons=[],
        check_in_statuses=[],
    )

    assert hostile not in page
    assert "&lt;script&gt;" in page


def test_offers_unanswered_are_listed_oldest_first_and_late_after_a_week() -> None:
    enrolled = [
        _resident("insats.participant.enrolled.v1", who, programme_id="p150")
        for who in ("m-1", "m-2", "m-3")
    ]
    view = caseworker_view(
        [
            *enrolled,
            _resident(
                "insats.placement.offered.v1",
                "m-1",
                at="2026-03-30",
                offered_on="2026-03-30",
                partner_id="hotellet",
            ),
            _resident(
                "insats.placement.offered.v1",
                "m-2",
                at="2026-03-20",
                offered_on="2026-03-20",
                partner_id="hotellet",
            ),
            _resident("insats.placement.offered.v1", "m-3", offered_on="2026-03-10"),
            _resident("insats.placement.changed.v1", "m-3", status="accepterad"),
        ],
        date(2026, 4, 1),
    )

    assert [(o.resident.participant_id, o.days, o.late) for o in view.offers] == [
        ("m-2", 12, True),
        ("m-1", 2, False),
    ]
    assert view.offers[0].resident.offered_by == "hotellet"
    accepted = view.resident("m-3")
    assert accepted is not None and accepted.standing == "plats accepterad"


def test_a_declined_or_expired_offer_puts_the_resident_back_in_line() -> None:
    view = caseworker_view(
        [
            _resident("insats.participant.enrolled.v1", "m-1", programme_id="p150"),
            _resident("insats.placement.offered.v1", "m-1", offered_on="2026-03-10"),
            _resident("insats.placement.changed.v1", "m-1", status="avbojd", change="expired"),
        ],
        date(2026, 4, 1),
    )

    assert view.offers == []
    assert [r.participant_id for r in view.waiting["p150"]] == ["m-1"]
    assert view.waiting["p150"][0].standing == "väntar på plats"


def test_a_caseworkers_page_shows_a_late_offer_and_escapes_what_a_partner_named() -> None:
    from services.gateway.auth import Caller
    from services.gateway.portal.pages import _TEMPLATES
    from shared.contracts.tenants import Tenant

    hostile = '"><img src=x onerror=alert(1)>'
    view = caseworker_view(
        [
            _resident("insats.participant.enrolled.v1", "m-1", programme_id="p150"),
            _resident(
                "insats.placement.offered.v1", "m-1", offered_on="2026-03-10", partner_id=hostile
            ),
        ],
        date(2026, 4, 1),
    )
    page = _TEMPLATES.get_template("caseworker.html").render(
        who=Caller(Tenant.municipality("1380"), "s", None, "caseworker"),
        csrf="c",
        key=lambda: "k",
        view=view,
        listing=listing(view.residents, "<b>", 1),
        statuses=[],
        today="2026-04-01",
    )

    assert 'data-offer="m-1" class="late"' in page
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert "22 dagar, <strong>försenat svar</strong>" in page
    assert hostile not in page


def _residents(count: int) -> list[Resident]:
    return [
        Resident(
            f"a-{n:032x}",
            programme_id="halmstad-150" if n % 2 else "kungsbacka-iop",
            referral_id=f"1380-{n}",
            referral_date=f"2026-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}",
        )
        for n in range(count)
    ]


def test_a_search_finds_residents_by_case_reference_or_programme_latest_referred_first() -> None:
    residents = _residents(120)

    by_case = listing(residents, " 1380-17 ", 1)
    assert [r.referral_id for r in by_case.shown] == ["1380-17"]
    assert (by_case.found, by_case.search) == (1, "1380-17")
    by_programme = listing(residents, "KUNGSBACKA", 1)
    assert by_programme.found == 60
    dates = [r.referral_date or "" for r in by_programme.shown]
    assert dates == sorted(dates, reverse=True)


def test_residents_are_shown_a_page_at_a_time_and_a_page_past_the_last_shows_the_last() -> None:
    residents = _residents(2 * PAGE_SIZE + 3)

    first, last = listing(residents, "", 1), listing(residents, "", 99)
    assert (first.pages, len(first.shown)) == (3, PAGE_SIZE)
    assert (last.page, len(last.shown)) == (3, 3)
    assert not {r.participant_id for r in first.shown} & {r.participant_id for r in last.shown}
    assert listing([], "x", 0).pages == 1


def test_the_portal_files_each_event_under_the_subject_its_pages_show() -> None:
    from services.gateway.portal.view_store import Filed, filed_under

    notice = {
        "type": "insats.partner-support.notice.v1",
        "data": {"placement_id": "pl-1", "check_in_id": "c-1"},
    }
    assert filed_under(_placement("pl-1", "pagar")) == Filed("placement:pl-1")
    assert filed_under(_placement("pl-1", None)) == Filed("placement:pl-1", forget=True)
    assert filed_under(notice) == Filed("placement:pl-1")
    assert filed_under(_resident("insats.placement.started.v1", "a-1")) == Filed("resident:a-1")
    assert filed_under(_resident("insats.participant.erased.v1", "a-1")) == Filed(
        "resident:a-1", forget=True
    )
    # A rejected referral is no resident; an answer to a request is on no page.
    assert filed_under(_resident("insats.referral.rejected.v1", "1380-1")) is None
    assert filed_under({"type": "insats.input.rejected.v1", "data": {"input_id": "x"}}) is None
    assert filed_under({"type": "insats.partner-placement.updated.v1", "data": "x"}) is None


def test_pages_say_the_contracts_codes_in_swedish_and_send_the_codes() -> None:
    from services.gateway.auth import Caller
    from services.gateway.portal.pages import _TEMPLATES
    from shared.contracts.tenants import Tenant
    from shared.contracts.vocabulary import AbsenceReason, CheckInStatus, EndReason

    page = _TEMPLATES.get_template("partner.html").render(
        who=Caller(Tenant.partner("hotellet"), "s", None, "partner-staff"),
        csrf="c",
        key=lambda: "k",
        view=partner_view([_placement("pl-1", "pagar")]),
        today="2026-04-01",
        absence_reasons=list(AbsenceReason),
        end_reasons=list(EndReason),
        check_in_statuses=list(CheckInStatus),
    )

    assert '<option value="vard_av_barn">vård av barn</option>' in page
    assert '<option value="till_arbete">gick till arbete</option>' in page
    assert 'data-status="pagar">(pågår' in page


@pytest.mark.parametrize(
    ("asked", "page"), [("3", 3), ("", 1), ("²", 1), ("٣", 1), ("-2", 1), ("9" * 40, 1)]
)
def test_a_page_number_is_read_from_ascii_digits_only(asked: str, page: int) -> None:
    assert page_number(asked) == page
