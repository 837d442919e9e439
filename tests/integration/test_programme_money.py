"""The programme's accounts at the edge, against the real broker and database: costs and
delivered contributions count only from the programme's owner (anyone else is answered), and
co-financing goes by organisationsnummer, so an IOP agreement whose partner's contribution is
named but not numbered offers no place."""

from __future__ import annotations

from datetime import date

from scripts.harness import wait_settled
from shared.contracts import topics
from shared.contracts.municipal import (
    Contribution,
    ContributionDelivered,
    ContributionKind,
    CostCategory,
    CostReported,
)
from shared.luhn import organisationsnummer
from shared.settings import Settings
from tests.integration.test_placement_service import (
    OFFERED,
    PROGRAMME,
    _setup,
    enrolled,
    iop_agreement,
)
from tests.support import event, events_on, publish, running

KOMMUN, BUTIK = organisationsnummer("212000130"), organisationsnummer("802011111")


def _answers(settings_events: list[dict[str, object]]) -> list[str]:
    return sorted(str(e["data"]["reason"]) for e in settings_events)  # type: ignore[index]


async def test_only_the_owner_reports_money_and_co_financing_goes_by_number(
    env: dict[str, str], settings: Settings
) -> None:
    cost = CostReported(
        report_id="k-1",
        programme_id=PROGRAMME,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
        category=CostCategory.STAFF,
        amount_sek=250_000,
    )
    delivered = ContributionDelivered(
        report_id="d-1",
        agreement_id="a-1",
        programme_id=PROGRAMME,
        party="Erikshjälpen",
        party_id=BUTIK,
        kind=ContributionKind.STAFF_HOURS,
        amount=120,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
    )
    numbered = iop_agreement(places=1).model_copy(
        update={
            "party_ids": [KOMMUN, BUTIK],
            "contributions": [
                Contribution(
                    party="Kungsbacka kommun",
                    party_id=KOMMUN,
                    kind=ContributionKind.STAFF_HOURS,
                    amount=800,
                ),
                # The partner is named, not numbered: not the party the agreement names.
                Contribution(party="Erikshjälpen", kind=ContributionKind.PREMISES, amount=120),
            ],
        }
    )
    async with running("placement", env):
        await _setup(settings, capacity=1)
        await publish(
            settings,
            event(cost, "1384"),
            event(delivered, "1384"),
            event(cost, "1380"),  # not the owner
            event(delivered, "1380"),
            event(cost.model_copy(update={"programme_id": "nowhere"}), "1384"),
        )
        await wait_settled(settings, services=["placement"])
        await publish(settings, event(numbered, "1384"))
        await wait_settled(settings, services=["placement"])
        await publish(settings, event(enrolled("p-1"), "1384"))
        await wait_settled(settings, services=["placement"])
        assert await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED) == []
        [refusal, *_] = reversed(
            await events_on(settings, topics.PLACEMENT_EVENTS, "insats.partner.not-eligible.v1")
        )
        assert refusal["data"]["parties_without_contribution"] == [BUTIK]
    owner = await events_on(
        settings, topics.municipality_events_topic("1384"), "insats.input.rejected.v1"
    )
    other = await events_on(
        settings, topics.municipality_events_topic("1380"), "insats.input.rejected.v1"
    )
    assert _answers(other) == ["NOT_PROGRAMME_OWNER", "NOT_PROGRAMME_OWNER"]
    assert _answers(owner) == ["UNKNOWN_PROGRAMME"]
