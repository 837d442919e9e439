"""The gateway's token rules, with keys made here and served as a JWKS: only tokens signed by
the issuer's published keys, for this audience, unexpired, naming a valid tenant, get in.
(The real identity provider issues and the gateway takes its tokens in tests/e2e.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.gateway.auth import TokenVerifier, Unauthenticated
from shared.contracts.tenants import Tenant

ISSUER = "https://idp.test/realms/insats"
AUDIENCE = "insats-gateway"

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(*keys: tuple[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    found = []
    for kid, key in keys:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        found.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": found}


class _Issuer:
    """Serves discovery and the JWKS, and counts how often the keys are fetched."""

    def __init__(self) -> None:
        self.fetches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"jwks_uri": f"{ISSUER}/certs"})
        self.fetches += 1
        return httpx.Response(200, json=_jwks(("k1", _KEY)))


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _verifier(issuer: _Issuer) -> TokenVerifier:
    return TokenVerifier(
        ISSUER, AUDIENCE, http=httpx.AsyncClient(transport=httpx.MockTransport(issuer))
    )


def _token(key: Any = _KEY, kid: str = "k1", algorithm: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "service-account-1",
        "azp": "kommun-1384-system",
        "iat": now,
        "exp": now + 300,
        "insats_tenant": "municipality:1384",
        **changes,
    }
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


async def test_a_token_signed_by_the_issuer_names_its_tenant() -> None:
    caller = await _verifier(_Issuer()).verify(_token())

    assert caller.tenant == Tenant.municipality("1384")
    assert caller.client_id == "kommun-1384-system"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_token(exp=int(time.time()) - 600), id="expired"),
        pytest.param(_token(aud="someone-else"), id="other-audience"),
        pytest.param(_token(iss="https://evil.test/realms/insats"), id="other-issuer"),
        pytest.param(_token(insats_tenant=None), id="no-tenant"),
        pytest.param(_token(insats_tenant="municipality:13845"), id="invalid-tenant"),
        pytest.param(_token(insats_tenant="admin:root"), id="unknown-kind"),
        pytest.param(_token(key=_OTHER), id="signed-by-another-key"),
        pytest.param(_token(sub=None), id="no-subject"),
        pytest.param("not.a.token", id="garbage"),
        pytest.param("x" * 10_000, id="huge"),
    ],
)
async def test_a_token_the_issuer_did_not_make_for_us_is_refused(token: str) -> None:
    with pytest.raises(Unauthenticated):
        await _verifier(_Issuer()).verify(token)


async def test_a_token_signed_with_the_public_key_as_a_shared_secret_is_refused() -> None:
    public = _KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": 1, "exp": 2**31}
    # Made by hand: PyJWT itself refuses to sign with a public key as an HMAC secret.
    signing_input = b".".join(
        _b64(json.dumps(part).encode())
        for part in (
            {"alg": "HS256", "typ": "JWT", "kid": "k1"},
            {**claims, "insats_tenant": "municipality:1384"},
        )
    )
    signature = hmac.new(public, signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + _b64(signature)).decode()

    with pytest.raises(Unauthenticated):
        await _verifier(_Issuer()).verify(forged)


async def test_unsigned_tokens_are_refused() -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": 1, "exp": 2**31}
    unsigned = (
        b".".join(
            _b64(json.dumps(part).encode())
            for part in (
                {"alg": "none", "kid": "k1"},
                {**claims, "insats_tenant": "municipality:1384"},
            )
        ).decode()
        + "."
    )

    with pytest.raises(Unauthenticated):
        await _verifier(_Issuer()).verify(unsigned)


async def test_unknown_key_ids_do_not_make_the_gateway_hammer_the_issuer() -> None:
    issuer = _Issuer()
    verifier = _verifier(issuer)
    await verifier.verify(_token())

    for attempt in range(20):
        with pytest.raises(Unauthenticated):
            await verifier.verify(_token(kid=f"unknown-{attempt}"))

    assert issuer.fetches == 1
