"""The local identity provider (a real Keycloak) issues what the gateway relies on: tokens signed
with a key from the issuer's JWKS, for the audience insats-gateway, naming the tenant in
insats_tenant, for API clients (client credentials) and for people (a browser login to the
portal, by the authorization code flow with PKCE)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from scripts.stack.identity import ApiClient, IdentityConflict, IdentityProvider
from scripts.stack.keycloak_realm import AUDIENCE, PORTAL_CLIENT
from shared.contracts.tenants import Tenant

KALMAR = Tenant.municipality("1384")
PARTNER = Tenant.partner("erikshjalpen-vimmerby")
# Any loopback port and path is a redirect URI of the portal; nothing needs to listen on it,
# since the test reads the code from the redirect rather than following it.
CALLBACK = "http://127.0.0.1:8765/callback"


def _verified(provider: IdentityProvider, token: str, audience: str = AUDIENCE) -> dict[str, Any]:
    key = jwt.PyJWKClient(provider.jwks_uri).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=provider.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    return claims


def _audiences(claims: dict[str, Any]) -> list[str]:
    """`aud` is a string when there is one audience, a list when there are more."""
    audience = claims["aud"]
    return [audience] if isinstance(audience, str) else list(audience)


def _unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_a_municipality_s_client_gets_a_signed_token_that_names_its_tenant(
    identity_provider: IdentityProvider,
) -> None:
    client = identity_provider.register_api_client(KALMAR, _unique("api-kalmar"))

    claims = _verified(identity_provider, identity_provider.client_token(client))

    assert claims["iss"] == identity_provider.issuer
    assert AUDIENCE in _audiences(claims)
    assert claims["insats_tenant"] == "municipality:1384"
    assert claims["azp"] == client.client_id
    assert claims["exp"] - claims["iat"] == 300
    assert client.token_url == identity_provider.token_url


def test_each_tenant_s_client_gets_its_own_tenant(identity_provider: IdentityProvider) -> None:
    kalmar = identity_provider.register_api_client(KALMAR, _unique("api-kalmar"))
    partner = identity_provider.register_api_client(PARTNER)

    kalmar_claims = _verified(identity_provider, identity_provider.client_token(kalmar))
    partner_claims = _verified(identity_provider, identity_provider.client_token(partner))

    assert kalmar_claims["insats_tenant"] == "municipality:1384"
    assert partner_claims["insats_tenant"] == "partner:erikshjalpen-vimmerby"
    assert partner.client_id == "api-partner-erikshjalpen-vimmerby"


def test_a_wrong_secret_is_refused(identity_provider: IdentityProvider) -> None:
    client = identity_provider.register_api_client(KALMAR, _unique("api-kalmar"))
    forged = ApiClient(client.client_id, "not-" + client.secret, client.tenant, client.token_url)

    with pytest.raises(httpx.HTTPStatusError) as refused:
        identity_provider.client_token(forged)

    assert refused.value.response.status_code == 401


def test_registering_again_returns_the_same_client_and_never_moves_it_to_another_tenant(
    identity_provider: IdentityProvider,
) -> None:
    client_id = _unique("api-kalmar")
    first = identity_provider.register_api_client(KALMAR, client_id)

    again = identity_provider.register_api_client(KALMAR, client_id)
    with pytest.raises(IdentityConflict):
        identity_provider.register_api_client(PARTNER, client_id)

    assert again == first
    claims = _verified(identity_provider, identity_provider.client_token(first))
    assert claims["insats_tenant"] == "municipality:1384"


def _browser_login(provider: IdentityProvider, username: str, password: str) -> dict[str, Any]:
    """What a browser does: the authorization request, the login form, the redirect back with a
    code; then what the portal does: exchange the code (with its secret and PKCE verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    with httpx.Client(timeout=10.0) as browser:
        page = browser.get(
            provider.authorization_url,
            params={
                "client_id": PORTAL_CLIENT,
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": CALLBACK,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge.decode().rstrip("="),
                "code_challenge_method": "S256",
            },
        )
        page.raise_for_status()
        form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
        assert form is not None, "no login form on the page"
        # Keycloak marks its login cookies Secure even over http. Browsers count loopback as a
        # secure context and send them back; httpx does not, so the test does it itself.
        cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in page.cookies.jar)
        redirect = browser.post(
            html.unescape(form[1]),
            data={"username": username, "password": password, "credentialId": ""},
            headers={"Cookie": cookies},
        )
    assert redirect.status_code == 302, "the login was not accepted"
    location = urlsplit(redirect.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == [state]
    tokens = httpx.post(
        provider.token_url,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": CALLBACK,
            "client_id": PORTAL_CLIENT,
            "client_secret": provider.portal_secret(),
            "code_verifier": verifier,
        },
        timeout=10.0,
    )
    tokens.raise_for_status()
    answer: dict[str, Any] = tokens.json()
    assert _verified(provider, answer["id_token"], audience=PORTAL_CLIENT)["nonce"] == nonce
    return answer


def test_a_registered_person_logs_in_at_once_and_their_tokens_carry_tenant_and_role(
    identity_provider: IdentityProvider,
) -> None:
    username = _unique("caseworker")
    password = secrets.token_urlsafe(12)
    identity_provider.register_person(KALMAR, username, password, "caseworker")

    tokens = _browser_login(identity_provider, username, password)

    access = _verified(identity_provider, tokens["access_token"])
    identity = _verified(identity_provider, tokens["id_token"], audience=PORTAL_CLIENT)
    for claims in (access, identity):
        assert claims["insats_tenant"] == "municipality:1384"
        assert claims["insats_role"] == "caseworker"
        assert claims["preferred_username"] == username
    assert AUDIENCE in _audiences(access)
    assert access["exp"] - access["iat"] == 300


def test_registering_a_person_again_sets_the_new_password_and_role_but_not_another_tenant(
    identity_provider: IdentityProvider,
) -> None:
    username = _unique("staff")
    identity_provider.register_person(PARTNER, username, "first-password", "partner-staff")

    identity_provider.register_person(PARTNER, username, "second-password", "programme-owner")
    with pytest.raises(IdentityConflict):
        identity_provider.register_person(KALMAR, username, "third-password", "caseworker")

    access = _verified(
        identity_provider,
        _browser_login(identity_provider, username, "second-password")["access_token"],
    )
    assert access["insats_tenant"] == "partner:erikshjalpen-vimmerby"
    assert access["insats_role"] == "programme-owner"
    with pytest.raises(AssertionError, match="the login was not accepted"):
        _browser_login(identity_provider, username, "first-password")
