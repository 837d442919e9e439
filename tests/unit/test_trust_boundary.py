"""The trust boundary's pure parts: which tenant a topic belongs to, what no payload can carry
past the contract's bounds, and whose claims the ownership rules allow."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scripts.contract.compatibility import breaking_changes, compare
from services.intake.personnummer import InvalidPersonnummer, format_with_check, parse
from shared.contracts.registry import UnreadableEvent, parse_event
from shared.contracts.tenants import (
    CHANNELS,
    Channel,
    InvalidTenant,
    Tenant,
    TenantKind,
    channel_pattern,
    inbound_topic,
    tenant_of_source,
    tenant_of_topic,
)
from shared.luhn import organisationsnummer, valid_organisationsnummer
from shared.ownership import may_act_on_participant, may_report_on_placement, owner_after
from tests.support import event
from tests.unit.factories import programme, referral

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
TENANTS = [
    Tenant.municipality("1384"),
    Tenant.owner("kommunforbundet-kalmar-lan"),
    Tenant.partner("erikshjalpen"),
]


@pytest.mark.parametrize("tenant", TENANTS, ids=lambda t: t.key)
def test_every_tenant_topic_names_its_tenant_and_channel_and_no_other(tenant: Tenant) -> None:
    for channel in CHANNELS[tenant.kind]:
        topic = inbound_topic(tenant, channel)
        assert tenant_of_topic(topic) == (tenant, channel)
        assert re.match(channel_pattern(channel, "t1."), f"t1.{topic}")
        for other in set(Channel) - {channel}:
            assert not re.match(channel_pattern(other, "t1."), f"t1.{topic}")
    for channel in set(Channel) - CHANNELS[tenant.kind]:
        with pytest.raises(InvalidTenant):
            inbound_topic(tenant, channel)


def test_streams_and_shared_topics_are_no_tenants_inbound_topic() -> None:
    for topic in (
        "insats.municipality.1384.events",
        "insats.partner.erikshjalpen.placements",
        "insats.owner.kf.events",
        "insats.municipal.referrals",
        "insats.partner.reports",
        "insats.owner.kf.referrals",  # an owner refers no one
        "insats.partner.x.programmes",  # nor defines programmes
        "insats.municipality.١٣٨٤.referrals",
    ):
        assert tenant_of_topic(topic) is None, topic
    assert re.match(channel_pattern(Channel.REFERRALS, shared=True), "insats.municipal.referrals")
    assert not re.match(channel_pattern(Channel.REFERRALS), "insats.municipal.referrals")


def test_a_tenant_id_that_could_not_be_a_topic_name_is_no_tenant() -> None:
    for kind, ident in (
        (TenantKind.MUNICIPALITY, "138"),
        (TenantKind.MUNICIPALITY, "١٣٨٤"),
        (TenantKind.PARTNER, "Erikshjälpen"),
        (TenantKind.PARTNER, "a.b"),
        (TenantKind.OWNER, ""),
    ):
        with pytest.raises(InvalidTenant):
            Tenant(kind, ident)


def test_on_a_shared_topic_the_tenant_is_only_what_the_source_claims() -> None:
    assert tenant_of_source("urn:kommun:1384") == Tenant.municipality("1384")
    assert tenant_of_source("urn:insats:owner:kf") == Tenant.owner("kf")
    assert tenant_of_source("urn:partner:erikshjalpen") == Tenant.partner("erikshjalpen")
    assert tenant_of_source("urn:kommun:1384:forsorjningsstod") is None
    assert tenant_of_source("/insats/intake") is None


def _schema_violation(raw: dict[str, object]) -> str:
    with pytest.raises(UnreadableEvent) as caught:
        parse_event(json.dumps(raw).encode())
    assert caught.value.code == "SCHEMA_VIOLATION"
    return caught.value.reason


def test_non_ascii_digits_are_not_digits_anywhere_in_the_contract() -> None:
    raw = json.loads(event(referral()).model_dump_json())
    raw["data"]["municipality"] = "1380".translate(ARABIC_INDIC)
    assert "data.municipality" in _schema_violation(raw)
    number = format_with_check(date(1990, 5, 17), 234)
    with pytest.raises(InvalidPersonnummer):
        parse(number.translate(ARABIC_INDIC), date(2026, 3, 2))
    assert valid_organisationsnummer(organisationsnummer("802011111"))
    assert not valid_organisationsnummer(organisationsnummer("802011111").translate(ARABIC_INDIC))


def test_a_sender_cannot_make_every_record_it_causes_too_large() -> None:
    raw = json.loads(event(referral()).model_dump_json())
    raw["correlationid"] = "c" * 129
    assert "correlationid" in _schema_violation(raw)
    raw = json.loads(event(referral()).model_dump_json())
    raw["data"]["name"] = "n" * 201
    assert "data.name" in _schema_violation(raw)
    raw = json.loads(event(programme()).model_dump_json())
    raw["data"]["municipalities"] = ["1380"] * 301
    assert "data.municipalities" in _schema_violation(raw)


def test_dates_and_numbers_stay_within_what_a_programme_can_mean() -> None:
    raw = json.loads(event(programme()).model_dump_json())
    raw["data"]["period_end"] = "9999-12-31"
    assert "data.period_end" in _schema_violation(raw)
    raw = json.loads(event(programme()).model_dump_json())
    raw["data"]["capacity"] = 10**18
    assert "data.capacity" in _schema_violation(raw)
    raw = json.loads(event(programme()).model_dump_json())
    text = json.dumps(raw).replace(
        '"attendance_risk_threshold": 0.3', '"attendance_risk_threshold": NaN'
    )
    with pytest.raises(UnreadableEvent):
        parse_event(text.encode())


@given(st.binary(max_size=300))
def test_no_bytes_make_the_parser_fail_other_than_with_a_reason(raw: bytes) -> None:
    try:
        parse_event(raw)
    except UnreadableEvent as problem:
        assert problem.code in {"INVALID_JSON", "UNKNOWN_EVENT_TYPE", "SCHEMA_VIOLATION"}


def test_a_programme_or_partner_belongs_to_whoever_named_it_first() -> None:
    halmstad, kungsbacka = Tenant.municipality("1380"), Tenant.municipality("1384")
    assert owner_after(None, halmstad) == halmstad.key
    assert owner_after(halmstad.key, halmstad) == halmstad.key
    assert owner_after(halmstad.key, kungsbacka) is None


def test_a_municipality_acts_on_those_it_referred_or_where_a_programme_shares_cases() -> None:
    kungsbacka = Tenant.municipality("1384")
    assert may_act_on_participant(kungsbacka, {"1384"}).allowed
    assert not may_act_on_participant(kungsbacka, {"1380"}).allowed
    shared = may_act_on_participant(kungsbacka, {"1380"}, shared_in=[["1380", "1384"]])
    assert shared.allowed
    assert shared.ground.startswith("cross_municipality_case_handling")
    assert not may_act_on_participant(Tenant.owner("kf"), {"1384"}).allowed


def test_only_the_placements_partner_or_the_residents_municipality_report_on_it() -> None:
    assert may_report_on_placement(Tenant.partner("hotellet"), "hotellet", "1380")
    assert not may_report_on_placement(Tenant.partner("butiken"), "hotellet", "1380")
    assert may_report_on_placement(Tenant.municipality("1380"), "hotellet", "1380")
    assert not may_report_on_placement(Tenant.municipality("1384"), "hotellet", "1380")


def test_a_tightened_bound_breaks_publishers_of_inbound_events_but_no_consumer() -> None:
    before = {"type": "object", "properties": {"note": {"type": "string"}}}
    after = {"type": "object", "properties": {"note": {"type": "string", "maxLength": 20}}}
    inbound = compare({"x.v1": before}, {"x.v1": after})
    outbound = compare({"x.v1": before}, {"x.v1": after}, published_only={"x.v1"})
    assert [c.kind for c in breaking_changes(inbound)] == ["constraint tightened"]
    assert breaking_changes(outbound) == []
    assert [c.kind for c in outbound] == ["constraint tightened"]


def test_an_unknown_type_is_named_in_the_reason_only_when_it_looks_like_a_type_name() -> None:
    """Reasons reach logs, dead-letter headers and answers: a personnummer put in the type
    field is not echoed."""
    pnr = "19900517-2344"
    with pytest.raises(UnreadableEvent) as caught:
        parse_event(json.dumps({"type": pnr}).encode())
    assert pnr not in str(caught.value)
    with pytest.raises(UnreadableEvent, match=re.escape("insats.partner.registered.v9")):
        parse_event(b'{"type": "insats.partner.registered.v9"}')
