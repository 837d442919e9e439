"""The portal's side of the authorization code flow with PKCE, against the identity provider."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import urlencode

import httpx


class LoginFailed(Exception):
    pass


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class PortalLogin:
    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self._http = httpx.AsyncClient(timeout=10.0)
        self._endpoints: dict[str, Any] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def _discovered(self) -> dict[str, Any]:
        if not self._endpoints:
            response = await self._http.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            self._endpoints = response.json()
        return self._endpoints

    async def authorization_url(
        self, redirect_uri: str, state: str, verifier: str, nonce: str
    ) -> str:
        endpoints = await self._discovered()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge_of(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoints['authorization_endpoint']}?{query}"

    async def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        """The access token for the code; LoginFailed if the identity provider refuses."""
        try:
            endpoints = await self._discovered()
            response = await self._http.post(
                endpoints["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": verifier,
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
        except httpx.HTTPError as error:
            raise LoginFailed(type(error).__name__) from None
        if response.status_code != 200:
            raise LoginFailed(f"token endpoint answered {response.status_code}")
        token = response.json().get("access_token")
        if not isinstance(token, str):
            raise LoginFailed("no access token")
        return token
