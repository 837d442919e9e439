"""Who may write what: the tenants of a deployment and the inbound topics each one owns.

A tenant is known from what it cannot forge: the topic its record arrived on, which only its own
Kafka user may write (a literal ACL on that one topic name). Payload fields that name a
municipality or a partner are claims, checked against the tenant; the envelope's `source` is
overwritten with the tenant's own URN at the boundary.

- A **municipality** (its kommunkod) refers its residents, defines its programmes, registers and
  vets its partners, signs agreements, answers follow-ups about its residents and reports on
  their placements: `insats.municipality.<kommunkod>.<channel>`.
- A **programme owner** (an association of municipalities, such as Kommunförbundet Kalmar län,
  which owns the ESF project across eight municipalities) defines programmes, registers partners,
  signs agreements and answers follow-ups in its programmes: `insats.owner.<owner_id>.<channel>`.
- A **partner** reports on the placements at its own workplaces:
  `insats.partner.<partner_id>.placement-reports`.

Every tenant's topic is `insats.<kind>.<id>.<channel>`: one grammar, so the topic alone says who
wrote it and what it carries.

The shared topics of earlier versions (`insats.municipal.*`, `insats.partner.reports`) are read
only while a deployment migrates (INSATS_SHARED_INBOUND_TOPICS=true); there the tenant is what
the envelope's `source` says, which any writer of the shared topic can forge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shared.contracts import topics


class TenantKind(StrEnum):
    MUNICIPALITY = "municipality"
    OWNER = "owner"
    PARTNER = "partner"


class Channel(StrEnum):
    """What an inbound topic carries. Each tenant kind writes to some of them."""

    REFERRALS = "referrals"  # referrals, consents, erasure requests: clear personnummer
    PROGRAMMES = "programmes"
    PARTNERS = "partners"  # partners, IOP vetting, agreements
    OUTCOME_REPORTS = "outcome-reports"  # follow-up answers
    PLACEMENT_REPORTS = "placement-reports"  # offer answers, starts, hours, attendance, ends


# The channels each kind of tenant may write to.
CHANNELS: Final[dict[TenantKind, frozenset[Channel]]] = {
    TenantKind.MUNICIPALITY: frozenset(Channel),
    TenantKind.OWNER: frozenset({Channel.PROGRAMMES, Channel.PARTNERS, Channel.OUTCOME_REPORTS}),
    TenantKind.PARTNER: frozenset({Channel.PLACEMENT_REPORTS}),
}

# The topics of earlier versions that every tenant shared, by channel.
SHARED_TOPICS: Final[dict[Channel, str]] = {
    Channel.REFERRALS: topics.MUNICIPAL_REFERRALS,
    Channel.PROGRAMMES: topics.MUNICIPAL_PROGRAMMES,
    Channel.PARTNERS: topics.MUNICIPAL_PARTNERS,
    Channel.OUTCOME_REPORTS: topics.MUNICIPAL_OUTCOME_REPORTS,
    Channel.PLACEMENT_REPORTS: topics.PARTNER_REPORTS,
}
CHANNEL_OF_SHARED_TOPIC: Final[dict[str, Channel]] = {
    topic: channel for channel, topic in SHARED_TOPICS.items()
}

_KOMMUNKOD = r"[0-9]{4}"
_TENANT_ID = r"[a-z0-9][a-z0-9_-]{0,63}"
_ID_PATTERN: Final[dict[TenantKind, re.Pattern[str]]] = {
    TenantKind.MUNICIPALITY: re.compile(rf"^{_KOMMUNKOD}$"),
    TenantKind.OWNER: re.compile(rf"^{_TENANT_ID}$"),
    TenantKind.PARTNER: re.compile(rf"^{_TENANT_ID}$"),
}


class InvalidTenant(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Tenant:
    kind: TenantKind
    id: str

    def __post_init__(self) -> None:
        if not _ID_PATTERN[self.kind].match(self.id):
            raise InvalidTenant(f"not a valid {self.kind.value} id")

    @classmethod
    def municipality(cls, kommunkod: str) -> Tenant:
        return cls(TenantKind.MUNICIPALITY, kommunkod)

    @classmethod
    def owner(cls, owner_id: str) -> Tenant:
        return cls(TenantKind.OWNER, owner_id)

    @classmethod
    def partner(cls, partner_id: str) -> Tenant:
        return cls(TenantKind.PARTNER, partner_id)

    @classmethod
    def from_key(cls, key: str) -> Tenant:
        kind, _, ident = key.partition(":")
        return cls(TenantKind(kind), ident)

    @property
    def key(self) -> str:
        """`municipality:1384`: how the tenant is named in stored records and audits."""
        return f"{self.kind.value}:{self.id}"

    @property
    def urn(self) -> str:
        """The envelope `source` of everything this tenant publishes."""
        if self.kind is TenantKind.MUNICIPALITY:
            return f"urn:kommun:{self.id}"
        return f"urn:insats:{self.kind.value}:{self.id}"

    @property
    def username(self) -> str:
        """Its Kafka user (SCRAM locally, a Strimzi KafkaUser in a cluster)."""
        return {
            TenantKind.MUNICIPALITY: f"kommun-{self.id}",
            TenantKind.OWNER: f"owner-{self.id}",
            TenantKind.PARTNER: f"partner-{self.id}",
        }[self.kind]

    @property
    def kommunkod(self) -> str | None:
        return self.id if self.kind is TenantKind.MUNICIPALITY else None

    def writes(self) -> tuple[str, ...]:
        """The inbound topics this tenant, and only this tenant, writes to (unprefixed)."""
        return tuple(inbound_topic(self, channel) for channel in sorted(CHANNELS[self.kind]))

    def answers_topic(self) -> str:
        """Where Insats answers this tenant: its own stream, which it alone may read."""
        if self.kind is TenantKind.MUNICIPALITY:
            return topics.municipality_events_topic(self.id)
        if self.kind is TenantKind.PARTNER:
            return topics.partner_placements_topic(self.id)
        return topics.owner_events_topic(self.id)


def inbound_topic(tenant: Tenant, channel: Channel) -> str:
    if channel not in CHANNELS[tenant.kind]:
        raise InvalidTenant(f"a {tenant.kind.value} does not write {channel.value}")
    return f"insats.{tenant.kind.value}.{tenant.id}.{channel.value}"


def channel_address(channel: Channel) -> str:
    """The channel's topics as one parametrised address, for the AsyncAPI documents."""
    return f"insats.{{tenant_kind}}.{{tenant_id}}.{channel.value}"


def kinds_writing(channel: Channel) -> list[TenantKind]:
    return [kind for kind in TenantKind if channel in CHANNELS[kind]]


# Without {n} quantifiers: FastStream reads `{name}` in a subscription pattern as a parameter.
_KOMMUNKOD_LOOSE = "[0-9][0-9][0-9][0-9]"
_TENANT_ID_LOOSE = "[a-z0-9][a-z0-9_-]*"


def _topic_alternatives(channel: Channel) -> list[str]:
    found = []
    for kind in TenantKind:
        if channel not in CHANNELS[kind]:
            continue
        ident = _KOMMUNKOD_LOOSE if kind is TenantKind.MUNICIPALITY else _TENANT_ID_LOOSE
        found.append(rf"insats\.{kind.value}\.{ident}\.{re.escape(channel.value)}")
    return found


def channel_pattern(channel: Channel, prefix: str = "", *, shared: bool = False) -> str:
    """The regular expression of every tenant's topic of this channel (and, during a migration,
    the shared topic), for a pattern subscription that picks up tenants onboarded later. It may
    match a little more than valid tenant ids (a longer id): tenant_of_topic has the last word."""
    alternatives = _topic_alternatives(channel)
    if shared:
        alternatives.append(re.escape(SHARED_TOPICS[channel]))
    return rf"^{re.escape(prefix)}(?:{'|'.join(alternatives)})$"


_TENANT_TOPIC = re.compile(
    rf"^insats\.(?:municipality\.(?P<kommunkod>{_KOMMUNKOD})"
    rf"|(?P<kind>owner|partner)\.(?P<ident>{_TENANT_ID}))\.(?P<channel>[a-z-]+)$"
)


def tenant_of_topic(topic: str) -> tuple[Tenant, Channel] | None:
    """The tenant that owns an inbound topic (unprefixed) and its channel; None for any other
    topic, the shared ones included."""
    match = _TENANT_TOPIC.match(topic)
    if match is None:
        return None
    kind, ident = (
        (TenantKind.MUNICIPALITY, match["kommunkod"])
        if match["kommunkod"]
        else (TenantKind(match["kind"]), match["ident"])
    )
    try:
        channel = Channel(match["channel"])
    except ValueError:
        return None
    if channel not in CHANNELS[kind]:
        return None
    return Tenant(kind, ident), channel


_URN = re.compile(
    rf"^urn:(?:kommun:(?P<kommunkod>{_KOMMUNKOD})"
    rf"|insats:owner:(?P<owner>{_TENANT_ID})"
    rf"|(?:insats:)?partner:(?P<partner>{_TENANT_ID}))$"
)


def tenant_of_source(source: str) -> Tenant | None:
    """The tenant an envelope's `source` claims: only used on the shared topics of a migration,
    where nothing better is known."""
    match = _URN.match(source)
    if match is None:
        return None
    if match["kommunkod"]:
        return Tenant.municipality(match["kommunkod"])
    if match["owner"]:
        return Tenant.owner(match["owner"])
    return Tenant.partner(match["partner"])
