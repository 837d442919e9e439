"""Who is calling: a bearer token from the identity provider, checked against its signing keys.

The tenant is the token's `insats_tenant` claim ("municipality:1384", "partner:erikshjalpen"),
which the identity provider sets per API client or per person: nothing in a request body can
change it. Only asymmetric signatures are accepted, so a token cannot be made with a key that
is public (the JWKS), and a key id the gateway has not seen refreshes the keys at most every 30 s,
so unknown ids cannot make it hammer the identity provider.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx
import jwt

from shared.contracts.tenants import InvalidTenant, Tenant

ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
_REFRESH_AT_MOST_EVERY: Final = 30.0
# Bounds on what is parsed before the signature is checked.
_MAX_TOKEN_CHARS: Final = 8_192


class Unauthenticated(Exception):
    """No token, or one the gateway does not trust. The reason is for logs and the caller."""


class IdentityProviderUnavailable(Exception):
    """The signing keys could not be fetched: the caller may try again."""


@dataclass(frozen=True)
class Caller:
    tenant: Tenant
    subject: str  # the token's `sub`: a client's service account or a person
    client_id: str | None
    role: str | None
    name: str | None = None

    @property
    def actor(self) -> str:
        """How audits name who did it."""
        return f"{self.tenant.key}/{self.client_id or '-'}/{self.subject}"


class TokenVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        tenant_claim: str = "insats_tenant",
        leeway: int = 30,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.tenant_claim = tenant_claim
        self.leeway = leeway
        self._jwks_url = jwks_url
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    async def verify(self, token: str) -> Caller:
        if not token or len(token) > _MAX_TOKEN_CHARS:
            raise Unauthenticated("no token, or one too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("not a JSON Web Token") from None
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS or not isinstance(kid, str):
            raise Unauthenticated("not signed with an accepted algorithm and key id")
        key = await self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"token refused: {type(error).__name__}") from None
        return _caller(claims, self.tenant_claim)

    async def ready(self) -> bool:
        """Whether the signing keys are at hand (fetched now if they never were)."""
        try:
            async with self._lock:
                if not self._keys:
                    await self._refresh()
        except IdentityProviderUnavailable:
            return False
        return bool(self._keys)

    async def _key(self, kid: str) -> jwt.PyJWK:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            # Without any keys yet (the issuer was away) a second is enough between tries; with
            # keys, an unknown id refreshes them at most every 30 s.
            if kid not in self._keys and time.monotonic() - self._fetched_at > (
                _REFRESH_AT_MOST_EVERY if self._keys else 1.0
            ):
                await self._refresh()
        if kid not in self._keys:
            raise Unauthenticated("signed with a key the identity provider does not publish")
        return self._keys[kid]

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            url = self._jwks_url or await self._discover()
            response = await self._http.get(url)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
            raise IdentityProviderUnavailable(type(error).__name__) from None
        self._keys = {
            key.key_id: key for key in keys if key.key_id and key.public_key_use in {None, "sig"}
        }

    async def _discover(self) -> str:
        response = await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        url = response.json().get("jwks_uri")
        if not isinstance(url, str):
            raise IdentityProviderUnavailable("the issuer's discovery document names no jwks_uri")
        self._jwks_url = url
        return url


def _caller(claims: dict[str, Any], tenant_claim: str) -> Caller:
    raw = claims.get(tenant_claim)
    if not isinstance(raw, str) or len(raw) > 80:
        raise Unauthenticated(f"the token names no tenant ({tenant_claim})")
    try:
        tenant = Tenant.from_key(raw)
    except (InvalidTenant, ValueError):
        raise Unauthenticated("the token's tenant is not a valid tenant") from None

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value[:200] if isinstance(value, str) else None

    return Caller(
        tenant=tenant,
        subject=str(claims["sub"])[:200],
        client_id=text("azp") or text("client_id"),
        role=text("insats_role"),
        name=text("preferred_username"),
    )
