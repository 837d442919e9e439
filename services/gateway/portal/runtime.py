"""What the portal needs beside the gateway's own parts: its sessions, its side of the login,
and the organisation's events that its pages are folded from (services/gateway/portal/
view_store.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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
