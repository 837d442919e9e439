"""Identity reads over HTTP, for the portal's caseworkers.

Intake alone holds the key that opens an identity, so intake opens it, and only for the portal:
the caller proves itself with INSATS_IDENTITY_READ_SECRET (the port is also Prometheus's, which
must not read identities). The portal names the municipality and the caseworker from its login
session; intake turns the municipality's own id for the resident back into the participant,
checks that the municipality may act on them, and writes the audit before anything is opened.
The personnummer does not leave intake in clear: the portal is shown its date part only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from faststream.asgi.types import Receive, Scope, Send
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo.errors import PyMongoError

from services.intake.identity import IdentityRecord, IdentityVault
from services.intake.identity_access import (
    Accessor,
    AccessRefused,
    Protected,
    read_identity_for_municipality,
)
from services.intake.store import IntakeStore
from shared.audience import AudiencePseudonyms, municipality

PATH = "/identity-reads"
MAX_BODY = 8_192


class IdentityReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    municipality: str = Field(pattern=r"^[0-9]{4}$", description="The caseworker's kommunkod.")
    participant_id: str = Field(
        pattern=r"^[a-z]-[0-9a-f]{32}$",
        description="The resident, by the id the municipality's own stream shows.",
    )
    actor: str = Field(min_length=1, max_length=300, description="Who reads, for the audit.")
    reason: str = Field(min_length=5, max_length=500, description="Why, for the audit.")


def masked(personnummer: str) -> str:
    """The date part of a twelve-digit number, the rest hidden: enough to match a case in the
    municipality's own system, not the number."""
    return f"{personnummer[:8]}-****"


def _answer(found: IdentityRecord | Protected) -> dict[str, Any]:
    if isinstance(found, Protected):
        # Skyddade personuppgifter: intake holds nothing to show, and says so.
        return {"shown": "protected"}
    return {
        "shown": "identity",
        "personnummer": masked(found.personnummer),
        "name": found.name,
        "phone": found.phone,
        "email": found.email,
        "address": found.address,
    }


class IdentityReadEndpoint:
    """An ASGI app for POST /identity-reads."""

    def __init__(
        self,
        store: IntakeStore,
        vault: IdentityVault,
        pseudonyms: AudiencePseudonyms,
        secret: str,
    ) -> None:
        self.store = store
        self.vault = vault
        self.pseudonyms = pseudonyms
        self._secret = hashlib.sha256(secret.encode()).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body = await self._handle(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]]:
        asked = await self._request(scope, receive)
        if not isinstance(asked, IdentityReadRequest):
            return asked
        participant = self.pseudonyms.participant(
            municipality(asked.municipality), asked.participant_id
        )
        try:
            found = await read_identity_for_municipality(
                self.store,
                self.vault,
                asked.municipality,
                participant,
                Accessor(asked.actor, asked.reason),
            )
        except AccessRefused:
            return 422, {"reason": "REASON_REQUIRED"}
        except PyMongoError:
            return 503, {"reason": "UNAVAILABLE"}
        if found is None:
            return 404, {"reason": "UNKNOWN_PARTICIPANT"}
        return 200, _answer(found)

    async def _request(
        self, scope: Scope, receive: Receive
    ) -> IdentityReadRequest | tuple[int, dict[str, Any]]:
        """The request asked, or the refusal: only POST, only the portal, a bounded body."""
        if scope.get("method") != "POST":
            return 405, {"reason": "METHOD_NOT_ALLOWED"}
        headers = dict(scope.get("headers") or [])
        if not self._authorised(headers.get(b"authorization", b"")):
            return 401, {"reason": "UNAUTHENTICATED"}
        body = await _body(receive, MAX_BODY)
        if body is None:
            return 413, {"reason": "TOO_LARGE"}
        try:
            return IdentityReadRequest.model_validate_json(body)
        except ValidationError:
            return 422, {"reason": "INVALID_REQUEST"}

    def _authorised(self, header: bytes) -> bool:
        scheme, _, given = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), self._secret)


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The request's body, or None once it passes `limit` (read no further)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
