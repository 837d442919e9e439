"""Topic names, one set per producer. The record key is always the envelope's subject.

Inbound topics carry what municipal systems and partners publish; the services' own topics carry
what each service decided. A deployment may prefix every name (INSATS_TOPIC_PREFIX) to share a
cluster between environments; the names below are the contract.
"""

from __future__ import annotations

from typing import Final

# Published by municipal case systems. Carries clear personnummer: readable by intake alone.
MUNICIPAL_REFERRALS: Final = "insats.municipal.referrals"
# Programme definitions from the programme owner (a municipality or a group of them).
MUNICIPAL_PROGRAMMES: Final = "insats.municipal.programmes"
# Partners and agreements registered by the labour-market unit.
MUNICIPAL_PARTNERS: Final = "insats.municipal.partners"
# Follow-up answers from caseworkers and registers.
MUNICIPAL_OUTCOME_REPORTS: Final = "insats.municipal.outcome-reports"
# What partners report back about the placements at their workplaces.
PARTNER_REPORTS: Final = "insats.partner.reports"

INTAKE_EVENTS: Final = "insats.intake.events"
# Special-category facts (disability, addiction or mental ill-health) for funder statistics only:
# kept off every other topic, readable by outcomes alone.
INTAKE_SPECIAL_CATEGORIES: Final = "insats.intake.special-categories"
PLACEMENT_EVENTS: Final = "insats.placement.events"
OUTCOMES_EVENTS: Final = "insats.outcomes.events"


# Each partner's own stream of the placements that concern it: readable by that partner alone.
PARTNER_PLACEMENTS_TEMPLATE: Final = "insats.partner.{partner_id}.placements"


# Each municipality's own stream of the events about its residents: readable by it alone.
MUNICIPALITY_EVENTS_TEMPLATE: Final = "insats.municipality.{kommunkod}.events"


# Each programme owner's own stream (an association of municipalities): the answers to what it
# published. Readable by it alone.
OWNER_EVENTS_TEMPLATE: Final = "insats.owner.{owner_id}.events"


# Any tenant's own stream, where the answers to what it sent are published: a municipality's
# events, a partner's placements, a programme owner's events (shared/contracts/tenants.py).
TENANT_STREAM_TEMPLATE: Final = "insats.{tenant_kind}.{tenant_id}.{stream}"


def owner_events_topic(owner_id: str) -> str:
    return OWNER_EVENTS_TEMPLATE.format(owner_id=owner_id)


def municipality_events_topic(kommunkod: str) -> str:
    return MUNICIPALITY_EVENTS_TEMPLATE.format(kommunkod=kommunkod)


def partner_placements_topic(partner_id: str) -> str:
    return PARTNER_PLACEMENTS_TEMPLATE.format(partner_id=partner_id)


def dead_letter_topic(service: str) -> str:
    """Where a service puts what it could not handle, with the original bytes and the reason."""
    return f"insats.{service}.dead-letter"


# The shared topics outside systems published to before each tenant had its own (see
# shared/contracts/tenants.py): anything on them that is not a known event is bad input.
INBOUND_TOPICS: Final = frozenset(
    {
        MUNICIPAL_REFERRALS,
        MUNICIPAL_PROGRAMMES,
        MUNICIPAL_PARTNERS,
        MUNICIPAL_OUTCOME_REPORTS,
        PARTNER_REPORTS,
    }
)

ALL_TOPICS: Final = (
    MUNICIPAL_REFERRALS,
    MUNICIPAL_PROGRAMMES,
    MUNICIPAL_PARTNERS,
    MUNICIPAL_OUTCOME_REPORTS,
    PARTNER_REPORTS,
    INTAKE_EVENTS,
    INTAKE_SPECIAL_CATEGORIES,
    PLACEMENT_EVENTS,
    OUTCOMES_EVENTS,
)
