"""Each partner and municipality sees a participant under an id of its own."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.audience import (
    AudiencePseudonyms,
    audience_view,
    inbound_ids,
    municipality,
    partner,
)
from shared.contracts.envelope import new_event
from shared.contracts.scoped import ResidentEvent
from shared.contracts.tenants import Tenant
from tests.unit.factories import referral

PSEUDONYMS = AudiencePseudonyms(b"a deployment's audience key")
PID = "p-0123456789abcdef0123456789abcdef"


def test_two_partners_see_one_participant_under_ids_that_do_not_match() -> None:
    first = PSEUDONYMS.shown(partner("ica-kvantum"), PID)
    second = PSEUDONYMS.shown(partner("erikshjalpen"), PID)
    at_home = PSEUDONYMS.shown(municipality("1380"), PID)
    assert len({first, second, at_home, PID}) == 4
    assert first == PSEUDONYMS.shown(partner("ica-kvantum"), PID)  # stable for its audience


def test_an_id_an_audience_was_shown_names_the_participant_only_for_that_audience() -> None:
    shown = PSEUDONYMS.shown(partner("ica-kvantum"), PID)
    assert PSEUDONYMS.participant(partner("ica-kvantum"), shown) == PID
    assert PSEUDONYMS.participant(partner("erikshjalpen"), shown) != PID
    assert PSEUDONYMS.participant(partner("ica-kvantum"), PID) == PID  # taken as it is


def test_another_deployment_key_shows_other_ids() -> None:
    other = AudiencePseudonyms(b"another deployment's key")
    assert other.shown(partner("ica-kvantum"), PID) != PSEUDONYMS.shown(partner("ica-kvantum"), PID)


def test_an_id_not_of_a_participant_is_shown_as_a_keyed_hash_that_does_not_turn_back() -> None:
    shown = PSEUDONYMS.shown(partner("ica-kvantum"), "referral-17")
    assert shown.startswith("h-") and "referral-17" not in shown
    assert PSEUDONYMS.participant(partner("ica-kvantum"), shown) == shown


def test_a_municipalitys_view_carries_its_own_ids_only() -> None:
    view = ResidentEvent(
        source_event_id="e-1",
        source_type="insats.participants.merged.v1",
        occurred_at=datetime(2026, 5, 1, tzinfo=UTC),
        municipality="1380",
        subject_id=PID,
        facts={"participant_id": PID, "merged_participant_id": PID[:-1] + "0", "request_id": "r"},
    )
    own = audience_view(view, PSEUDONYMS)
    home = municipality("1380")
    assert own.subject_id == own.facts["participant_id"] == PSEUDONYMS.shown(home, PID)
    assert own.facts["merged_participant_id"] == PSEUDONYMS.shown(home, PID[:-1] + "0")
    assert own.facts["request_id"] == "r"
    assert PID not in own.model_dump_json()


def test_a_request_naming_the_municipalitys_own_id_names_the_participant() -> None:
    from shared.contracts.municipal import ErasureRequested
    from shared.contracts.vocabulary import ErasureReason

    shown = PSEUDONYMS.shown(municipality("1380"), PID)
    request = ErasureRequested(
        request_id="e-1",
        participant_id=shown,
        municipality="1380",
        reason=ErasureReason.GDPR_ARTICLE_17,
        requested_by="procapita",
    )
    sent = new_event(request, source="/municipality/1380", municipality="1380")
    assert inbound_ids(sent, Tenant.municipality("1380"), PSEUDONYMS).data.participant_id == PID
    # Another municipality's own id for the person names someone else (no one, in practice).
    elsewhere = inbound_ids(sent, Tenant.municipality("0880"), PSEUDONYMS)
    assert elsewhere.data.participant_id != PID
    # An event without a participant id passes as it is.
    plain = new_event(referral(), source="/municipality/1380", municipality="1380")
    assert inbound_ids(plain, Tenant.municipality("1380"), PSEUDONYMS) is plain
