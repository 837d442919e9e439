"""A caseworker reads a resident's identity through intake, the only holder of its key: the
portal names the caseworker (from the login session) and the reason they gave, and intake
checks the municipality's right to the resident and audits the read before opening anything
(services/intake/identity_endpoint.py)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from services.gateway.auth import Caller


class IdentityUnavailable(Exception):
    """Intake could not be asked, or did not answer as it should."""


@dataclass(frozen=True)
class ShownIdentity:
    protected: bool
    personnummer: str | None = None  # the date part only: intake never sends the number
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


def actor_of(caller: Caller) -> str:
    """How intake's audit names the caseworker: the login's tenant, client and subject, and the
    name the identity provider gave."""
    return f"{caller.actor} ({caller.name})" if caller.name else caller.actor


class IdentityReader:
    def __init__(self, intake_url: str, secret: str, *, timeout: float = 10.0) -> None:
        self._url = f"{intake_url.rstrip('/')}/identity-reads"
        self._secret = secret
        self._http = httpx.AsyncClient(timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def read(self, caller: Caller, shown_id: str, reason: str) -> ShownIdentity | None:
        """The resident's identity, or None if the caseworker's municipality may not see it
        (not its resident) or intake holds none (erased)."""
        assert caller.tenant.kommunkod is not None
        try:
            answer = await self._http.post(
                self._url,
                json={
                    "municipality": caller.tenant.kommunkod,
                    "participant_id": shown_id,
                    "actor": actor_of(caller)[:300],
                    "reason": reason,
                },
                headers={"Authorization": f"Bearer {self._secret}"},
            )
        except httpx.HTTPError as problem:
            raise IdentityUnavailable(str(problem)) from None
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise IdentityUnavailable(f"intake answered {answer.status_code}")
        try:
            found = answer.json()
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise IdentityUnavailable("intake's answer was not an identity")
        if found.get("shown") == "protected":
            return ShownIdentity(protected=True)
        text = {key: value for key, value in found.items() if isinstance(value, str)}
        return ShownIdentity(
            protected=False,
            personnummer=text.get("personnummer"),
            name=text.get("name"),
            phone=text.get("phone"),
            email=text.get("email"),
            address=text.get("address"),
        )
