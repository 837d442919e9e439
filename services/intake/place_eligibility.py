"""Who may be offered an agreement's places: Kalejdo's are for women, Sökandelots's for people
with a disability. Intake decides, since only intake holds the facts (a disability is a special
category that never leaves it); placement is told only the answer per agreement.

Pure: facts and conditions in, decisions out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.contracts.intake import AgreementEligibility
from shared.contracts.municipal import PlaceEligibility
from shared.contracts.vocabulary import EligibilityCriterion, Gender, TargetGroup


@dataclass(frozen=True)
class EligibilityFacts:
    """What intake knows of an enrolment that conditions may ask about: the gender and age at
    referral, and every target group, special categories included."""

    gender: Gender
    age: int
    target_groups: frozenset[TargetGroup]


def unmet(rules: PlaceEligibility, facts: EligibilityFacts | None) -> list[EligibilityCriterion]:
    """The conditions the facts do not meet, in a fixed order; none if every one holds. Without
    facts (an enrolment from before intake kept them) nothing can be shown to hold."""
    if facts is None:
        return [EligibilityCriterion.FACTS_NOT_KNOWN]
    failed = []
    if rules.genders and facts.gender not in rules.genders:
        failed.append(EligibilityCriterion.GENDER)
    if (rules.min_age is not None and facts.age < rules.min_age) or (
        rules.max_age is not None and facts.age > rules.max_age
    ):
        failed.append(EligibilityCriterion.AGE)
    if rules.target_groups and not facts.target_groups & set(rules.target_groups):
        failed.append(EligibilityCriterion.TARGET_GROUP)
    return failed


def decide(
    restricted: Mapping[str, PlaceEligibility], facts: EligibilityFacts | None
) -> list[AgreementEligibility]:
    """A decision for each restricted agreement of the programme, by agreement id."""
    decisions = []
    for agreement_id in sorted(restricted):
        rules = restricted[agreement_id]
        failed = unmet(rules, facts)
        decisions.append(
            AgreementEligibility(
                agreement_id=agreement_id,
                criteria=rules.digest(),
                eligible=not failed,
                unmet=failed,
            )
        )
    return decisions
