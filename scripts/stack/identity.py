"""API clients and people in the local identity provider's `insats` realm, through Keycloak's
admin REST API: what `insats identity-provider client|person` do.

Registering is idempotent and never moves anything to another tenant: a client id or username
already registered for a different tenant is refused (IdentityConflict), so a typo cannot hand
one tenant's data to another's client. Re-registering an API client returns the secret it has;
re-registering a person sets a new password and role.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from scripts.stack.config import KEYCLOAK_REALM, StackSettings
from scripts.stack.keycloak import LocalKeycloak
from scripts.stack.keycloak_realm import PORTAL_CLIENT, ROLE_CLAIM, ROLES, TENANT_CLAIM, api_client
from shared.contracts.tenants import Tenant


class IdentityConflict(RuntimeError):
    """The client id or username is already registered for another tenant."""


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    secret: str
    tenant: Tenant
    token_url: str


class IdentityProvider:
    def __init__(self, keycloak: LocalKeycloak | None = None) -> None:
        self.keycloak = keycloak or LocalKeycloak(StackSettings())

    # --- the URLs a relying party needs ------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.keycloak.settings.oidc_issuer

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def authorization_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/auth"

    # --- API clients -------------------------------------------------------------------------

    def register_api_client(self, tenant: Tenant, client_id: str | None = None) -> ApiClient:
        """A confidential client whose client-credentials tokens name `tenant`; by default
        `api-<kind>-<id>`, e.g. api-municipality-1384."""
        client_id = client_id or f"api-{tenant.kind.value}-{tenant.id}"
        with self._admin() as admin:
            found = self._client(admin, client_id)
            if found is None:
                created = admin.post("/clients", json=api_client(client_id, tenant))
                # 409: registered meanwhile by someone else; what it is is checked below.
                if created.status_code != 409:
                    created.raise_for_status()
                found = self._client(admin, client_id)
                if found is None:
                    raise RuntimeError(f"Keycloak did not keep the client {client_id}")
            registered_for = found.get("attributes", {}).get("insats.tenant")
            if registered_for != tenant.key:
                raise IdentityConflict(
                    f"client {client_id} is registered for {registered_for or 'no tenant'}, "
                    f"not {tenant.key}"
                )
            secret = self._secret(admin, str(found["id"]))
        return ApiClient(client_id, secret, tenant, self.token_url)

    def client_token(self, client: ApiClient) -> str:
        """An access token by the client credentials grant; httpx.HTTPStatusError (401) if the
        secret is wrong."""
        response = httpx.post(
            client.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.secret,
            },
            timeout=10.0,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def portal_secret(self) -> str:
        """The secret of the portal's confidential client (authorization code flow)."""
        with self._admin() as admin:
            found = self._client(admin, PORTAL_CLIENT)
            if found is None:
                raise RuntimeError(f"the realm has no client {PORTAL_CLIENT}")
            return self._secret(admin, str(found["id"]))

    # --- people ------------------------------------------------------------------------------

    def register_person(self, tenant: Tenant, username: str, password: str, role: str) -> None:
        """A person who can log in with this password at once (no required actions), whose
        tokens carry the tenant and role. An existing person of the same tenant gets the new
        password and role."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        attributes = {TENANT_CLAIM: [tenant.key], ROLE_CLAIM: [role]}
        with self._admin() as admin:
            found = self._user(admin, username)
            if found is None:
                created = admin.post(
                    "/users",
                    json={
                        "username": username,
                        "enabled": True,
                        "emailVerified": True,
                        "requiredActions": [],
                        "attributes": attributes,
                        "credentials": [_password(password)],
                    },
                )
                created.raise_for_status()
            else:
                registered_for = (found.get("attributes") or {}).get(TENANT_CLAIM, [None])[0]
                if registered_for != tenant.key:
                    raise IdentityConflict(
                        f"{username} is registered for {registered_for or 'no tenant'}, "
                        f"not {tenant.key}"
                    )
                user = f"/users/{found['id']}"
                admin.put(
                    user,
                    json={
                        **{key: found[key] for key in _USER_FIELDS if key in found},
                        "enabled": True,
                        "emailVerified": True,
                        "requiredActions": [],
                        "attributes": {**(found.get("attributes") or {}), **attributes},
                    },
                ).raise_for_status()
                admin.put(f"{user}/reset-password", json=_password(password)).raise_for_status()
            # Keycloak drops attributes its user profile does not declare, without an error: a
            # person without them would log in to tokens that name no tenant.
            stored = self._user(admin, username) or {}
            if (stored.get("attributes") or {}).get(TENANT_CLAIM) != [tenant.key]:
                raise RuntimeError(f"Keycloak did not keep {TENANT_CLAIM} on {username}")

    # --- the admin REST API ------------------------------------------------------------------

    @contextmanager
    def _admin(self) -> Iterator[httpx.Client]:
        username, password = self.keycloak.admin_credentials()
        login = httpx.post(
            f"{self.keycloak.url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": username,
                "password": password,
            },
            timeout=10.0,
        )
        if login.status_code == 401:
            raise RuntimeError(
                f"Keycloak on {self.keycloak.url} refused the admin in "
                f"{self.keycloak.credentials_file}: it is not the local stack's, or its "
                f"database predates that file (delete {self.keycloak.data / 'h2'} to start anew)"
            )
        login.raise_for_status()
        with httpx.Client(
            base_url=f"{self.keycloak.url}/admin/realms/{KEYCLOAK_REALM}",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            timeout=10.0,
        ) as admin:
            yield admin

    @staticmethod
    def _client(admin: httpx.Client, client_id: str) -> dict[str, Any] | None:
        response = admin.get("/clients", params={"clientId": client_id})
        response.raise_for_status()
        matches: list[dict[str, Any]] = response.json()
        return matches[0] if matches else None

    @staticmethod
    def _secret(admin: httpx.Client, internal_id: str) -> str:
        response = admin.get(f"/clients/{internal_id}/client-secret")
        response.raise_for_status()
        value = response.json().get("value")
        if not value:
            # A confidential client imported without a secret gets one on first ask.
            response = admin.post(f"/clients/{internal_id}/client-secret")
            response.raise_for_status()
            value = response.json()["value"]
        return str(value)

    @staticmethod
    def _user(admin: httpx.Client, username: str) -> dict[str, Any] | None:
        response = admin.get("/users", params={"username": username, "exact": "true"})
        response.raise_for_status()
        matches: list[dict[str, Any]] = response.json()
        return matches[0] if matches else None


# What a PUT of a user keeps; the rest of what a GET returns is Keycloak's own metadata.
_USER_FIELDS = ("username", "email", "firstName", "lastName")


def _password(password: str) -> dict[str, Any]:
    return {"type": "password", "value": password, "temporary": False}
