"""A programme's money: its budget and who funds which share, what it actually cost period by
period, what each party committed to its agreements and delivered, and the cost per participant
and per outcome.

Parties are told apart by organisationsnummer where the agreement or report gives it, by name
otherwise; a zero or missing amount is no contribution (shared.cofinancing). Pure: definitions,
reports and journeys in, figures out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.outcomes.domain import Journey
from services.outcomes.indicators import WORK_OR_STUDIES, Context
from shared.cofinancing import counts, parties_without_contribution, party_key
from shared.contracts.municipal import (
    AgreementKind,
    AgreementSigned,
    ContributionDelivered,
    ContributionKind,
    CostReported,
)
from shared.contracts.vocabulary import FollowUpPoint


@dataclass(frozen=True)
class Funding:
    funder: str
    funder_id: str | None
    share: float
    amount_sek: float


@dataclass(frozen=True)
class PartyContribution:
    party: str  # the organisationsnummer where given, else the name
    name: str
    kind: ContributionKind
    committed: float
    delivered: float


@dataclass(frozen=True)
class Money:
    budget_sek: float | None
    funding: tuple[Funding, ...]
    unfunded_share: float
    costs: tuple[CostReported, ...]
    total_cost_sek: float
    contributions: tuple[PartyContribution, ...]
    participants: int  # people enrolled on referrals in the period
    outcomes: int  # people who left in the period in work or studies
    lacking_co_financing: tuple[tuple[str, tuple[str, ...]], ...]  # IOP agreement, parties

    @property
    def cost_per_participant(self) -> float | None:
        return self.total_cost_sek / self.participants if self.participants else None

    @property
    def cost_per_outcome(self) -> float | None:
        return self.total_cost_sek / self.outcomes if self.outcomes else None


def _in_period(report: CostReported | ContributionDelivered, ctx: Context) -> bool:
    return ctx.period_start <= report.period_start <= ctx.last_day


def money(
    ctx: Context,
    journeys: Sequence[Journey],
    agreements: Sequence[AgreementSigned],
    costs: Sequence[CostReported],
    deliveries: Sequence[ContributionDelivered],
) -> Money:
    programme = ctx.programme
    budget = programme.budget
    funding = (
        tuple(
            Funding(f.funder, f.funder_id, f.share, f.share * budget.total_sek)
            for f in budget.funding
        )
        if budget
        else ()
    )
    spent = tuple(
        sorted(
            (c for c in costs if _in_period(c, ctx)), key=lambda c: (c.period_start, c.report_id)
        )
    )
    mine = [a for a in agreements if a.programme_id == programme.programme_id]
    committed: dict[tuple[str, ContributionKind], float] = {}
    delivered: dict[tuple[str, ContributionKind], float] = {}
    names: dict[str, str] = {}
    for agreement in mine:
        for contribution in agreement.contributions:
            if counts(contribution):
                key = (
                    party_key(contribution.party_id)
                    if contribution.party_id
                    else contribution.party
                )
                names.setdefault(key, contribution.party)
                slot = (key, contribution.kind)
                committed[slot] = committed.get(slot, 0.0) + (contribution.amount or 0.0)
    for delivery in deliveries:
        if delivery.programme_id == programme.programme_id and _in_period(delivery, ctx):
            key = party_key(delivery.party_id) if delivery.party_id else delivery.party
            names.setdefault(key, delivery.party)
            slot = (key, delivery.kind)
            delivered[slot] = delivered.get(slot, 0.0) + delivery.amount
    people = {
        j.participant_id
        for j in journeys
        if j.referral_date is not None and ctx.period_start <= j.referral_date <= ctx.last_day
    }
    succeeded = {
        j.participant_id
        for j in journeys
        if j.exited
        and j.exit_date is not None
        and ctx.period_start <= j.exit_date <= ctx.last_day
        and (outcome := j.outcomes.get(FollowUpPoint.AT_EXIT)) is not None
        and outcome.status in WORK_OR_STUDIES
    }
    return Money(
        budget_sek=budget.total_sek if budget else None,
        funding=funding,
        unfunded_share=max(0.0, 1.0 - sum(f.share for f in funding)) if budget else 0.0,
        costs=spent,
        total_cost_sek=sum(c.amount_sek for c in spent),
        contributions=tuple(
            PartyContribution(party, names[party], kind, committed.get((party, kind), 0.0), amount)
            for (party, kind), amount in sorted(
                {**dict.fromkeys(committed, 0.0), **delivered}.items(),
                key=lambda item: (item[0][0], item[0][1].value),
            )
        ),
        participants=len(people),
        outcomes=len(succeeded),
        lacking_co_financing=tuple(
            (a.agreement_id, lacking)
            for a in mine
            if a.kind is AgreementKind.IOP
            and (lacking := parties_without_contribution(a.parties, a.contributions, a.party_ids))
        ),
    )
