"""Places for some participants only: Kalejdo's for women, Sökandelots's for people with a
disability. Intake decides who is eligible from the facts it alone holds; placement offers a
restricted agreement's places only to those intake found eligible on its current conditions.
The same on the real stack in tests/integration/test_agreement_eligibility.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.intake.place_eligibility import EligibilityFacts, decide, unmet
from services.placement.domain import ProgrammeBook, WaitingEntry, iop_eligibility
from shared.contracts.municipal import AgreementKind, PlaceEligibility
from shared.contracts.vocabulary import EligibilityCriterion, Gender, TargetGroup
from tests.unit.factories import agreement, programme

WOMEN = PlaceEligibility(genders=[Gender.FEMALE])
DISABILITY = PlaceEligibility(target_groups=[TargetGroup.DISABILITY])
DAY = date(2026, 3, 2)


def _facts(gender: Gender = Gender.FEMALE, age: int = 35, *groups: TargetGroup) -> EligibilityFacts:
    return EligibilityFacts(gender=gender, age=age, target_groups=frozenset(groups))


def test_a_woman_meets_a_condition_for_women_and_a_man_does_not() -> None:
    assert unmet(WOMEN, _facts(Gender.FEMALE)) == []
    assert unmet(WOMEN, _facts(Gender.MALE)) == [EligibilityCriterion.GENDER]


def test_every_condition_must_hold_and_each_failed_one_is_named() -> None:
    young_women_with_a_disability = PlaceEligibility(
        genders=[Gender.FEMALE], min_age=18, max_age=29, target_groups=[TargetGroup.DISABILITY]
    )
    assert unmet(young_women_with_a_disability, _facts(Gender.MALE, 45)) == [
        EligibilityCriterion.GENDER,
        EligibilityCriterion.AGE,
        EligibilityCriterion.TARGET_GROUP,
    ]
    assert (
        unmet(young_women_with_a_disability, _facts(Gender.FEMALE, 29, TargetGroup.DISABILITY))
        == []
    )
    assert unmet(
        young_women_with_a_disability, _facts(Gender.FEMALE, 17, TargetGroup.DISABILITY)
    ) == [EligibilityCriterion.AGE]


def test_a_special_category_is_checked_from_intakes_facts_and_only_the_answer_leaves() -> None:
    [decision] = decide(
        {"sokandelots": DISABILITY}, _facts(Gender.MALE, 40, TargetGroup.DISABILITY)
    )
    assert decision.eligible and decision.unmet == []
    assert decision.criteria == DISABILITY.digest()
    [refused] = decide({"sokandelots": DISABILITY}, _facts(Gender.MALE, 40))
    assert not refused.eligible
    # The reason names the condition, never a fact: nothing says funktionsnedsattning.
    assert "funktionsnedsattning" not in refused.model_dump_json()


def test_an_enrolment_without_kept_facts_is_never_found_eligible() -> None:
    [decision] = decide({"kalejdo": WOMEN}, None)
    assert not decision.eligible
    assert decision.unmet == [EligibilityCriterion.FACTS_NOT_KNOWN]


def test_conditions_with_the_same_meaning_have_the_same_digest_and_others_do_not() -> None:
    both = PlaceEligibility(genders=[Gender.FEMALE, Gender.NON_BINARY])
    assert both.digest() == PlaceEligibility(genders=[Gender.NON_BINARY, Gender.FEMALE]).digest()
    assert both.digest() != WOMEN.digest()
    assert not PlaceEligibility().restricts()
    assert agreement(eligibility=PlaceEligibility()).restricted_to() is None


def test_an_age_range_upside_down_is_refused() -> None:
    with pytest.raises(ValidationError):
        PlaceEligibility(min_age=30, max_age=18)


def _book() -> ProgrammeBook:
    book = ProgrammeBook("kalmar", programme(programme_id="kalmar", capacity=10), {}, 0, [], 0)
    book.sign(
        agreement(
            agreement_id="kalejdo",
            programme_id="kalmar",
            places=5,
            kind=AgreementKind.SOCIAL_CLAUSE,
            eligibility=WOMEN,
        ),
        "0880",
        iop_eligibility(AgreementKind.SOCIAL_CLAUSE, {}, [], []),
    )
    return book


def _waiting(pid: str, eligible_for: frozenset[str] = frozenset()) -> WaitingEntry:
    return WaitingEntry(
        participant_id=pid,
        programme_id="kalmar",
        municipality="0880",
        income_support=True,
        referral_date=DAY,
        enrolled_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        eligible_for=eligible_for,
    )


def test_a_restricted_agreement_is_offered_only_to_those_found_eligible() -> None:
    book = _book()
    key = f"kalejdo:{WOMEN.digest()}"
    book.enqueue(_waiting("undecided"))
    book.enqueue(_waiting("eligible", frozenset({key})))
    offers = book.allocate(DAY, "t")
    assert [o.participant_id for o in offers] == ["eligible"]
    assert "intake's decision" in offers[0].decision
    assert [e.participant_id for e in book.waiting] == ["undecided"]


def test_a_decision_on_the_agreements_earlier_conditions_does_not_count() -> None:
    book = _book()
    earlier = PlaceEligibility(genders=[Gender.FEMALE, Gender.MALE]).digest()
    book.enqueue(_waiting("decided-before", frozenset({f"kalejdo:{earlier}"})))
    assert book.allocate(DAY, "t") == []


def test_an_agreement_without_conditions_is_open_to_everyone_as_before() -> None:
    book = _book()
    book.sign(
        agreement(agreement_id="open", programme_id="kalmar", places=1),
        "0880",
        iop_eligibility(AgreementKind.SOCIAL_CLAUSE, {}, [], []),
    )
    book.enqueue(_waiting("anyone"))
    [offer] = book.allocate(DAY, "t")
    assert offer.agreement_id == "open"
