"""Which topics are tenants' own streams, and whose: the feed's subscription and the one place
that names an entry's tenant.

The tenant is read off the topic, never the payload: only the services write these topics, and
a topic is one tenant's alone (shared/contracts/tenants.py), whereas an envelope's fields are
whatever its producer put there.
"""

from __future__ import annotations

import re
from typing import Final

from shared.contracts.tenants import InvalidTenant, Tenant, TenantKind

# Without {n} quantifiers, as channel_pattern writes them; tenant_of_stream has the last word.
_STREAMS: Final = (
    r"insats\.municipality\.[0-9][0-9][0-9][0-9]\.events",
    r"insats\.partner\.[a-z0-9][a-z0-9_-]*\.placements",
    r"insats\.owner\.[a-z0-9][a-z0-9_-]*\.events",
)
_STREAM: Final = re.compile(
    r"^insats\.(?P<kind>municipality|partner|owner)\.(?P<ident>[a-z0-9][a-z0-9_-]*)\.[a-z]+$"
)


def stream_pattern(prefix: str) -> str:
    """Every tenant's stream, those onboarded later included, under the deployment's prefix."""
    return rf"^{re.escape(prefix)}(?:{'|'.join(_STREAMS)})$"


def tenant_of_stream(topic: str, prefix: str) -> Tenant | None:
    """The tenant whose own stream `topic` (full name) is; None for any other topic."""
    if not topic.startswith(prefix):
        return None
    match = _STREAM.match(topic[len(prefix) :])
    if match is None:
        return None
    try:
        tenant = Tenant(TenantKind(match["kind"]), match["ident"])
    except (InvalidTenant, ValueError):
        return None
    # The round trip rules out a kind's other topics (a partner's placement-reports).
    return tenant if tenant.answers_topic() == topic[len(prefix) :] else None
