"""Places for some participants only, against the real broker and database: intake decides who
is eligible for an agreement from the facts it holds (a disability among them), placement is
told only the answer, and nobody is offered places they are not eligible for."""

from __future__ import annotations

from datetime import date
from typing import Any

from scripts.harness import wait_settled
from services.intake.personnummer import format_with_check
from shared.contracts import topics
from shared.contracts.municipal import AgreementKind, PartnerRegistered, PlaceEligibility
from shared.contracts.vocabulary import Gender, PartnerKind, TargetGroup
from shared.luhn import organisationsnummer
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import event, events_on, everything_stored, publish, running
from tests.unit.factories import agreement, programme, referral

DECIDED = "insats.eligibility.decided.v1"
OFFERED = "insats.placement.offered.v1"
ENROLLED = "insats.participant.enrolled.v1"
# The ninth digit of a personnummer is even for women, odd for men.
WOMAN = format_with_check(date(1988, 4, 12), 242)
MAN = format_with_check(date(1985, 9, 30), 243)
PARTNER = "halmstad-verkstan"
SERVICES = ["intake", "placement"]


def _partner() -> PartnerRegistered:
    return PartnerRegistered(
        partner_id=PARTNER,
        organisationsnummer=organisationsnummer("212000120"),
        name="Verkstan, Halmstads kommun",
        kind=PartnerKind.MUNICIPAL_WORKPLACE,
        municipality="1380",
    )


def _places(places: int, eligibility: PlaceEligibility | None) -> Any:
    return agreement(
        agreement_id="verkstan-1",
        partner_id=PARTNER,
        programme_id="halmstad-150",
        places=places,
        kind=AgreementKind.MUNICIPAL,
        eligibility=eligibility,
    )


async def _participants(settings: Settings) -> dict[str, str]:
    """Referral id -> participant id, from intake's enrolments."""
    return {
        e["data"]["referral_id"]: e["data"]["participant_id"]
        for e in await events_on(settings, topics.INTAKE_EVENTS, ENROLLED)
    }


async def _offered(settings: Settings) -> list[tuple[str, str]]:
    return [
        (e["data"]["participant_id"], e["data"]["agreement_id"])
        for e in await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
    ]


async def test_places_for_women_are_offered_to_women_only_and_the_man_is_told_why_not(
    env: dict[str, str], settings: Settings
) -> None:
    women_only = PlaceEligibility(genders=[Gender.FEMALE])
    async with running("intake", env), running("placement", env):
        await publish(
            settings, event(programme()), event(_partner()), event(_places(5, women_only))
        )
        await wait_settled(settings, services=SERVICES)
        await publish(
            settings,
            event(referral(referral_id="1380-man", personnummer=MAN)),
            event(referral(referral_id="1380-woman", personnummer=WOMAN)),
        )
        await wait_settled(settings, services=SERVICES)
    ids = await _participants(settings)
    decided = {
        e["data"]["participant_id"]: e["data"]["agreements"]
        for e in await events_on(settings, topics.INTAKE_EVENTS, DECIDED)
    }
    assert decided[ids["1380-woman"]] == [
        {
            "agreement_id": "verkstan-1",
            "criteria": women_only.digest(),
            "eligible": True,
            "unmet": [],
        }
    ]
    [for_the_man] = decided[ids["1380-man"]]
    assert (for_the_man["eligible"], for_the_man["unmet"]) == (False, ["kon"])
    # Five places free, and still only the woman is offered one: the man waits.
    assert await _offered(settings) == [(ids["1380-woman"], "verkstan-1")]
    client = mongo_client(settings)
    try:
        waiting = await client[settings.database_name("placement")]["waiting"].find({}).to_list()
    finally:
        await client.close()
    assert [(doc["participant_id"], doc["eligible_for"]) for doc in waiting] == [
        (ids["1380-man"], [])
    ]


async def test_an_agreement_for_people_with_a_disability_signed_later_is_decided_inside_intake(
    env: dict[str, str], settings: Settings
) -> None:
    """The people wait first; the agreement comes after. Intake decides on the facts it kept,
    the special category among them; placement learns only who is eligible. Signed again open
    to everyone, its other place goes to the one who was not."""
    for_disability = PlaceEligibility(target_groups=[TargetGroup.DISABILITY])
    async with running("intake", env), running("placement", env):
        await publish(settings, event(programme()), event(_partner()))
        await wait_settled(settings, services=SERVICES)
        await publish(
            settings,
            event(
                referral(
                    referral_id="1380-stod",
                    personnummer=WOMAN,
                    target_groups=[TargetGroup.LONG_TERM_UNEMPLOYED, TargetGroup.DISABILITY],
                )
            ),
            event(referral(referral_id="1380-annan", personnummer=MAN)),
        )
        await wait_settled(settings, services=SERVICES)
        assert await _offered(settings) == []
        await publish(settings, event(_places(2, for_disability)))
        await wait_settled(settings, services=SERVICES)
        ids = await _participants(settings)
        assert await _offered(settings) == [(ids["1380-stod"], "verkstan-1")]
        await publish(settings, event(_places(2, None)))
        await wait_settled(settings, services=SERVICES)
    assert sorted(await _offered(settings)) == sorted(
        [(ids["1380-stod"], "verkstan-1"), (ids["1380-annan"], "verkstan-1")]
    )
    decided = await events_on(settings, topics.INTAKE_EVENTS, DECIDED)
    assert {
        (e["data"]["participant_id"], e["data"]["agreements"][0]["eligible"])
        for e in decided
        if e["data"]["agreements"]
    } == {(ids["1380-stod"], True), (ids["1380-annan"], False)}
    # Signed again without conditions: decided again, with nothing left to decide.
    assert sum(not e["data"]["agreements"] for e in decided) == 2
    # The special category never reaches placement, nor intake's shared events.
    intake_events = await events_on(settings, topics.INTAKE_EVENTS)
    assert "funktionsnedsattning" not in everything_stored(intake_events)
    client = mongo_client(settings)
    try:
        db = client[settings.database_name("placement")]
        held = [
            *(await db["waiting"].find({}).to_list()),
            *(await db["placements"].find({}).to_list()),
        ]
    finally:
        await client.close()
    assert held
    assert "funktionsnedsattning" not in everything_stored(held)
