"""A programme's money against figures made by hand: Kalmar län's 21 MSEK with two thirds from
the ESF, costs by period, contributions committed and delivered by organisationsnummer, and the
cost per participant and per outcome."""

from datetime import date

import pytest

from services.outcomes.domain import Journey, Outcome
from services.outcomes.indicators import Context
from services.outcomes.money import money
from shared.contracts.municipal import (
    AgreementKind,
    Budget,
    Contribution,
    ContributionDelivered,
    ContributionKind,
    CostCategory,
    CostReported,
    FundingShare,
)
from shared.contracts.vocabulary import FollowUpPoint, OutcomeStatus
from shared.luhn import organisationsnummer
from tests.unit.factories import agreement, programme

KOMMUN, KALEJDO, ESF = (
    organisationsnummer("212000088"),
    organisationsnummer("802400111"),
    organisationsnummer("202100577"),
)
KALMAR = programme(
    programme_id="kalmar",
    period_start=date(2026, 1, 1),
    period_end=date(2027, 12, 31),
    budget=Budget(
        total_sek=21_000_000,
        funding=[
            FundingShare(funder="Europeiska socialfonden", funder_id=ESF, share=2 / 3),
            FundingShare(funder="Kalmar kommun", funder_id=KOMMUN, share=1 / 6),
        ],
    ),
)


def cost(report: str, start: date, amount: float, category: CostCategory) -> CostReported:
    return CostReported(
        report_id=report,
        programme_id="kalmar",
        period_start=start,
        period_end=date(start.year, start.month + 2, 28),
        category=category,
        amount_sek=amount,
    )


def test_budget_costs_contributions_and_costs_per_participant_and_outcome() -> None:
    iop = agreement(
        agreement_id="kalejdo-kalmar",
        programme_id="kalmar",
        kind=AgreementKind.IOP,
        parties=["Kalmar kommun", "Kalejdo"],
        party_ids=[KOMMUN, KALEJDO],
        contributions=[
            Contribution(
                party="Kalmar kommun", party_id=KOMMUN, kind=ContributionKind.MONEY, amount=100_000
            ),
            Contribution(
                party="Kalejdo", party_id=KALEJDO, kind=ContributionKind.STAFF_HOURS, amount=800
            ),
            Contribution(
                party="Kalejdo", party_id=KALEJDO, kind=ContributionKind.PREMISES, amount=0
            ),
        ],
    )
    unfunded = agreement(
        agreement_id="other-kalmar",
        programme_id="kalmar",
        kind=AgreementKind.IOP,
        parties=["Kalmar kommun", "Kalejdo"],
        party_ids=[KOMMUN, KALEJDO],
        contributions=[
            Contribution(
                party="Kalmar kommun", party_id=KOMMUN, kind=ContributionKind.MONEY, amount=5_000
            ),
            # A name without the number, and no amount: neither counts.
            Contribution(party="Kalejdo", kind=ContributionKind.PREMISES, description="lokal"),
        ],
    )
    delivered = ContributionDelivered(
        report_id="d-1",
        agreement_id="kalejdo-kalmar",
        programme_id="kalmar",
        party="Kalejdo AB",  # spelled otherwise: the number joins it to the commitment
        party_id=KALEJDO.replace("-", ""),
        kind=ContributionKind.STAFF_HOURS,
        amount=300,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 6, 30),
    )
    journeys = [
        Journey(
            programme_id="kalmar", participant_id=p, enrolled=True, referral_date=date(2026, 2, 1)
        )
        for p in "abc"
    ] + [
        Journey(
            programme_id="kalmar",
            participant_id="d",
            enrolled=True,
            referral_date=date(2026, 2, 1),
            exited=True,
            exit_date=date(2026, 9, 1),
            outcomes={FollowUpPoint.AT_EXIT: Outcome(OutcomeStatus.UNSUBSIDISED_WORK)},
        )
    ]
    costs = [
        cost("q1", date(2026, 1, 1), 1_200_000, CostCategory.STAFF),
        cost("q2", date(2026, 4, 1), 300_000, CostCategory.PREMISES),
        cost("old", date(2025, 10, 1), 999_999, CostCategory.OTHER),  # before the period
    ]
    ctx = Context.for_programme(KALMAR, date(2026, 12, 31))
    figures = money(ctx, journeys, [iop, unfunded], costs, [delivered])
    assert figures.budget_sek == 21_000_000
    assert [(f.funder, round(f.amount_sek)) for f in figures.funding] == [
        ("Europeiska socialfonden", 14_000_000),
        ("Kalmar kommun", 3_500_000),
    ]
    assert figures.unfunded_share == pytest.approx(1 / 6)
    assert [c.report_id for c in figures.costs] == ["q1", "q2"]
    assert figures.total_cost_sek == 1_500_000
    assert {(c.party, c.kind, c.committed, c.delivered) for c in figures.contributions} == {
        (KOMMUN.replace("-", ""), ContributionKind.MONEY, 105_000.0, 0.0),
        (KALEJDO.replace("-", ""), ContributionKind.STAFF_HOURS, 800.0, 300.0),
    }
    assert (figures.participants, figures.cost_per_participant) == (4, 375_000)
    assert (figures.outcomes, figures.cost_per_outcome) == (1, 1_500_000)
    assert figures.lacking_co_financing == (("other-kalmar", (KALEJDO,)),)
