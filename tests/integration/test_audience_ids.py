"""Per-audience ids on the real stack: two partners who meet the same participant see them under
ids that do not match each other's, the municipality's or the internal one; each partner's report
naming its own id is applied, and one naming the other partner's id names no one."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from scripts.harness import wait_settled
from shared.audience import AudiencePseudonyms, municipality, partner
from shared.contracts import topics
from shared.contracts.municipal import (
    AgreementKind,
    Contribution,
    ContributionKind,
    CriterionAssessment,
    PartnerRegistered,
    PartnerVetted,
    PriorityRule,
    Workplace,
)
from shared.contracts.partner import PlacementChangeReported
from shared.contracts.vocabulary import (
    ActivityType,
    ConsentPurpose,
    IopCriterion,
    PartnerKind,
    PlacementAction,
    TargetGroup,
)
from shared.luhn import organisationsnummer
from shared.settings import Settings
from tests.support import event, events_on, publish, running
from tests.unit.factories import agreement, participant_enrolled, programme

PROGRAMME = "kungsbacka-iop"
SHOPS = {"erikshjalpen": "802011111", "stadsmissionen": "802022222"}
VIEW = "insats.partner-placement.updated.v1"


def _partner_events(partner_id: str, number: str) -> list[Any]:
    return [
        PartnerRegistered(
            partner_id=partner_id,
            organisationsnummer=organisationsnummer(number),
            name=f"{partner_id} second hand",
            kind=PartnerKind.IOP_NON_PROFIT,
            municipality="1384",
            workplaces=[
                Workplace(
                    workplace_id=f"{partner_id}-butik",
                    name="Butiken",
                    municipality="1384",
                    activities=[ActivityType.ARBETSTRANING],
                )
            ],
        ),
        PartnerVetted(
            partner_id=partner_id,
            assessed_by="Kungsbacka, Arbetsmarknad",
            assessments=[
                CriterionAssessment(criterion=c, met=True, assessed_on=date(2026, 1, 10))
                for c in IopCriterion
            ],
        ),
        agreement(
            agreement_id=f"iop-{partner_id}",
            programme_id=PROGRAMME,
            partner_id=partner_id,
            places=1,
            kind=AgreementKind.IOP,
            parties=["Kungsbacka kommun", partner_id],
            workplace_id=f"{partner_id}-butik",
            hours_per_week=20,
            contributions=[
                Contribution(
                    party="Kungsbacka kommun", kind=ContributionKind.STAFF_HOURS, amount=400
                ),
                Contribution(party=partner_id, kind=ContributionKind.PREMISES, amount=100),
            ],
        ),
    ]


async def _views(settings: Settings, partner_id: str) -> list[dict[str, Any]]:
    return [
        e["data"]
        for e in await events_on(settings, topics.partner_placements_topic(partner_id), VIEW)
    ]


async def test_two_partners_see_one_participant_under_ids_of_their_own(
    env: dict[str, str], settings: Settings
) -> None:
    pseudonyms = AudiencePseudonyms(env["INSATS_AUDIENCE_KEY"].encode())
    pid = f"p-{secrets.token_hex(16)}"
    enrolled = participant_enrolled(
        pid,
        programme_id=PROGRAMME,
        municipality="1384",
        income_support=True,
        target_groups=[TargetGroup.NEWLY_ARRIVED],
        referral_date=date(2026, 2, 1),
        consents=[ConsentPurpose.SHARE_WITH_PARTNER],
    )
    async with running("placement", env):
        setup = [
            programme(
                programme_id=PROGRAMME,
                municipalities=["1384"],
                capacity=2,
                priority=PriorityRule.INCOME_SUPPORT_FIRST,
            )
        ]
        for partner_id, number in SHOPS.items():
            setup += _partner_events(partner_id, number)
        await publish(settings, *(event(e, "1384") for e in setup))
        await wait_settled(settings, services=["placement"])
        await publish(settings, event(enrolled, "1384", source="/insats/intake"))
        await wait_settled(settings, services=["placement"])
        [(first, first_view)] = [
            (p, views[-1]) for p in SHOPS if (views := await _views(settings, p))
        ]
        second = next(p for p in SHOPS if p != first)
        shown_first = pseudonyms.shown(partner(first), pid)
        assert first_view["participant_id"] == shown_first

        async def report(by: str, placement_id: str, shown: str, action: PlacementAction) -> None:
            change = PlacementChangeReported(
                placement_id=placement_id,
                participant_id=shown,
                action=action,
                on=date(2026, 2, 5),
            )
            await publish(settings, event(change, "1384", source=f"urn:insats:partner:{by}"))
            await wait_settled(settings, services=["placement"])

        # The first partner declines, naming the participant by its own id: applied, and the
        # place at the second partner is offered.
        await report(first, first_view["placement_id"], shown_first, PlacementAction.DECLINE)
        second_views = await _views(settings, second)
        assert second_views, "the place at the second partner was not offered"
        # The second partner cannot name the participant by the first partner's id: it names no
        # one, and the acceptance is refused.
        await report(second, second_views[-1]["placement_id"], shown_first, PlacementAction.ACCEPT)
        refused = await events_on(
            settings, topics.partner_placements_topic(second), "insats.input.rejected.v1"
        )
    rejected = await events_on(
        settings, topics.partner_placements_topic(first), "insats.input.rejected.v1"
    )
    assert rejected == []
    assert [v["status"] for v in await _views(settings, first)][-1] == "avbojd"
    assert [r["data"]["reason"] for r in refused] == ["ILLEGAL_TRANSITION"]
    assert [v["status"] for v in await _views(settings, second)][-1] == "erbjuden"
    shown_second = second_views[-1]["participant_id"]
    assert shown_second == pseudonyms.shown(partner(second), pid)
    at_home = pseudonyms.shown(municipality("1384"), pid)
    assert len({pid, shown_first, shown_second, at_home}) == 4
    # The municipality's stream shows its own id for the participant, and never another's.
    resident = await events_on(settings, topics.municipality_events_topic("1384"))
    subjects = {
        e["data"]["subject_id"] for e in resident if e["type"] == "insats.resident-event.v1"
    }
    assert at_home in subjects
    assert not subjects & {pid, shown_first, shown_second}
