"""Server-side portal sessions and login attempts, in the gateway's database.

The browser holds only a random session id; the database keeps its hash, so a copy of the
database holds no working cookie. Sessions and unfinished logins expire by TTL indexes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.auth import Caller
from shared.contracts.tenants import Tenant

LOGIN_EXPIRES = timedelta(minutes=10)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class PortalSession:
    caller: Caller
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class PendingLogin:
    verifier: str
    nonce: str
    return_to: str


class SessionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.sessions = db["portal_sessions"]
        self.logins = db["portal_logins"]

    async def ensure_indexes(self) -> None:
        for collection in (self.sessions, self.logins):
            await collection.create_index("expires_at", expireAfterSeconds=0)

    async def begin_login(self, return_to: str) -> tuple[str, PendingLogin]:
        """A login attempt: its state (for the identity provider's redirect) and PKCE."""
        state = secrets.token_urlsafe(32)
        pending = PendingLogin(secrets.token_urlsafe(48), secrets.token_urlsafe(24), return_to)
        await self.logins.insert_one(
            {
                "_id": _hash(state),
                "verifier": pending.verifier,
                "nonce": pending.nonce,
                "return_to": pending.return_to,
                "expires_at": datetime.now(UTC) + LOGIN_EXPIRES,
            }
        )
        return state, pending

    async def finish_login(self, state: str) -> PendingLogin | None:
        """The attempt this state names, once: a replayed redirect finds nothing."""
        found = await self.logins.find_one_and_delete({"_id": _hash(state)})
        if found is None or found["expires_at"] < datetime.now(UTC):
            return None
        return PendingLogin(found["verifier"], found["nonce"], found["return_to"])

    async def create(self, caller: Caller, lifetime: timedelta) -> str:
        session_id = secrets.token_urlsafe(32)
        await self.sessions.insert_one(
            {
                "_id": _hash(session_id),
                "tenant": caller.tenant.key,
                "subject": caller.subject,
                "client_id": caller.client_id,
                "role": caller.role,
                "name": caller.name,
                "csrf": secrets.token_urlsafe(24),
                "expires_at": datetime.now(UTC) + lifetime,
            }
        )
        return session_id

    async def find(self, session_id: str) -> PortalSession | None:
        if not session_id or len(session_id) > 100:
            return None
        found = await self.sessions.find_one({"_id": _hash(session_id)})
        if found is None or found["expires_at"] < datetime.now(UTC):
            return None
        caller = Caller(
            tenant=Tenant.from_key(found["tenant"]),
            subject=found["subject"],
            client_id=found.get("client_id"),
            role=found.get("role"),
            name=found.get("name"),
        )
        return PortalSession(caller, found["csrf"], found["expires_at"])

    async def end(self, session_id: str) -> None:
        await self.sessions.delete_one({"_id": _hash(session_id)})
