"""What the portal needs beside the gateway's own parts: its sessions, its side of the login,
and the organisation's stream that its pages are folded from."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.gateway.feed_store import FeedStore
from services.gateway.portal.identity_reads import IdentityReader
from services.gateway.portal.login import PortalLogin
from services.gateway.portal.sessions import SessionStore
from shared.contracts.tenants import Tenant

# The tenant's own stream as envelopes, oldest first.
StreamReader = Callable[[Tenant], Awaitable[list[dict[str, Any]]]]


@dataclass
class Portal:
    sessions: SessionStore
    login: PortalLogin
    stream: StreamReader
    # Caseworkers' identity reads, through intake (INSATS_PORTAL_INTAKE_URL).
    identities: IdentityReader | None = None

    async def close(self) -> None:
        await self.login.close()
        if self.identities is not None:
            await self.identities.close()


# A page folds the organisation's whole stream; beyond this many entries it shows the latest.
_MOST = 50_000
_PAGE = 500


def stream_from(feed: FeedStore) -> StreamReader:
    """The organisation's stream as the gateway's feed keeps it (what its feed API and webhooks
    serve): exactly what the organisation may see, nothing more."""

    async def read(tenant: Tenant) -> list[dict[str, Any]]:
        heads = await feed.heads([tenant])
        after = max(0, heads[tenant] - _MOST)
        events: list[dict[str, Any]] = []
        while True:
            entries = await feed.page(tenant, after, _PAGE)
            for entry in entries:
                try:
                    document = json.loads(entry.value)
                except ValueError:
                    continue
                if isinstance(document, dict):
                    events.append(document)
            if len(entries) < _PAGE:
                return events
            after = entries[-1].seq

    return read
