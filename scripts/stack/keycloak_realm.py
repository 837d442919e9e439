"""The `insats` realm of the local identity provider, as Keycloak imports it at start.

Every token meant for the gateway carries the audience `insats-gateway` and the tenant it acts
for in the claim `insats_tenant` (a Tenant.key, e.g. `municipality:1384`), so the gateway learns
the tenant from what the issuer signed, never from the request. Where the tenant comes from:
- an API client (client credentials): a hardcoded claim on that client, set when it is
  registered (identity.py), so one client can never act for another tenant;
- a person (the portal, authorization code flow): the user attributes `insats_tenant` and
  `insats_role`, which the user profile declares as admin-only, so a person cannot change their
  own tenant or role in the account console.

The mappers sit on each client rather than in a client scope: a realm that declares client
scopes in its import gets none of Keycloak's built-in ones (`basic`, which puts `sub` in tokens,
among them), and redeclaring those here would be copying Keycloak's defaults.
"""

from __future__ import annotations

import json
from typing import Any, Final

from scripts.stack.config import KEYCLOAK_REALM
from shared.contracts.tenants import Tenant

REALM: Final = KEYCLOAK_REALM
AUDIENCE: Final = "insats-gateway"
TENANT_CLAIM: Final = "insats_tenant"
ROLE_CLAIM: Final = "insats_role"
PORTAL_CLIENT: Final = "insats-portal"
ROLES: Final = ("caseworker", "partner-staff", "programme-owner")
ACCESS_TOKEN_LIFESPAN: Final = 300
# Keycloak accepts a wildcard only at the end of a redirect URI: any port and path on loopback.
PORTAL_REDIRECT_URIS: Final = ("http://127.0.0.1:*", "http://localhost:*")
# Tenant.key's grammar (shared/contracts/tenants.py), checked by Keycloak on every write.
TENANT_KEY_PATTERN: Final = r"^(municipality:[0-9]{4}|(owner|partner):[a-z0-9][a-z0-9_-]{0,63})$"

Representation = dict[str, Any]


def _claim_config(claim: str, *, id_token: bool = True) -> dict[str, str]:
    return {
        "claim.name": claim,
        "jsonType.label": "String",
        "access.token.claim": "true",
        "id.token.claim": str(id_token).lower(),
        "userinfo.token.claim": "true",
        "introspection.token.claim": "true",
    }


def audience_mapper() -> Representation:
    return {
        "name": "audience insats-gateway",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        # A custom audience needs no client of that name in the realm: the gateway only
        # validates tokens and never logs in itself.
        "config": {
            "included.custom.audience": AUDIENCE,
            "access.token.claim": "true",
            "id.token.claim": "false",
            "introspection.token.claim": "true",
        },
    }


def tenant_claim_mapper(tenant: Tenant) -> Representation:
    return {
        "name": TENANT_CLAIM,
        "protocol": "openid-connect",
        "protocolMapper": "oidc-hardcoded-claim-mapper",
        "config": {**_claim_config(TENANT_CLAIM), "claim.value": tenant.key},
    }


def user_attribute_mapper(attribute: str) -> Representation:
    return {
        "name": attribute,
        "protocol": "openid-connect",
        "protocolMapper": "oidc-usermodel-attribute-mapper",
        "config": {
            **_claim_config(attribute),
            "user.attribute": attribute,
            "multivalued": "false",
            "aggregate.attrs": "false",
        },
    }


def api_client(client_id: str, tenant: Tenant) -> Representation:
    """A confidential client that only ever acts as itself (client credentials), for one
    tenant."""
    return {
        "clientId": client_id,
        "name": f"API client of {tenant.key}",
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        # No realm or account roles in its tokens: what it may do is the gateway's decision,
        # made from the tenant claim.
        "fullScopeAllowed": False,
        "attributes": {"insats.tenant": tenant.key},
        "protocolMappers": [audience_mapper(), tenant_claim_mapper(tenant)],
    }


def portal_client() -> Representation:
    return {
        "clientId": PORTAL_CLIENT,
        "name": "Insats portal",
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "fullScopeAllowed": False,
        "redirectUris": list(PORTAL_REDIRECT_URIS),
        "webOrigins": [],
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": "##".join(PORTAL_REDIRECT_URIS),
        },
        "protocolMappers": [
            audience_mapper(),
            user_attribute_mapper(TENANT_CLAIM),
            user_attribute_mapper(ROLE_CLAIM),
        ],
    }


def _admin_only() -> dict[str, list[str]]:
    return {"view": ["admin"], "edit": ["admin"]}


def _user_editable() -> dict[str, list[str]]:
    return {"view": ["admin", "user"], "edit": ["admin", "user"]}


def user_profile() -> Representation:
    """Keycloak's default user profile with two changes: the Insats attributes are declared
    (Keycloak 26 drops undeclared attributes), and email and names are optional, since a
    required one that a person lacks sends the first login to an "update profile" page."""
    return {
        "attributes": [
            {
                "name": "username",
                "displayName": "${username}",
                "validations": {
                    "length": {"min": 3, "max": 255},
                    "username-prohibited-characters": {},
                    "up-username-not-idn-homograph": {},
                },
                "permissions": _user_editable(),
                "multivalued": False,
            },
            {
                "name": "email",
                "displayName": "${email}",
                "validations": {"email": {}, "length": {"max": 255}},
                "permissions": _user_editable(),
                "multivalued": False,
            },
            *(
                {
                    "name": name,
                    "displayName": f"${{{name}}}",
                    "validations": {
                        "length": {"max": 255},
                        "person-name-prohibited-characters": {},
                    },
                    "permissions": _user_editable(),
                    "multivalued": False,
                }
                for name in ("firstName", "lastName")
            ),
            {
                "name": TENANT_CLAIM,
                "displayName": "Insats tenant",
                "validations": {
                    "pattern": {
                        "pattern": TENANT_KEY_PATTERN,
                        "error-message": "not a tenant key such as municipality:1384",
                    }
                },
                "permissions": _admin_only(),
                "multivalued": False,
            },
            {
                "name": ROLE_CLAIM,
                "displayName": "Insats role",
                "validations": {"options": {"options": list(ROLES)}},
                "permissions": _admin_only(),
                "multivalued": False,
            },
        ],
        "groups": [
            {
                "name": "user-metadata",
                "displayHeader": "User metadata",
                "displayDescription": "Attributes, which refer to user metadata",
            }
        ],
    }


def realm() -> Representation:
    return {
        "realm": REALM,
        "displayName": "Insats",
        "enabled": True,
        "accessTokenLifespan": ACCESS_TOKEN_LIFESPAN,
        # http on loopback only (Keycloak's "external" allows it for local addresses).
        "sslRequired": "external",
        "registrationAllowed": False,
        "resetPasswordAllowed": False,
        "editUsernameAllowed": False,
        "clients": [portal_client()],
        "components": {
            "org.keycloak.userprofile.UserProfileProvider": [
                {
                    "providerId": "declarative-user-profile",
                    "subComponents": {},
                    "config": {"kc.user.profile.config": [json.dumps(user_profile())]},
                }
            ]
        },
    }


def realm_json() -> str:
    """Stable text for the same realm, so a digest of it says whether the realm changed."""
    return json.dumps(realm(), indent=2, sort_keys=True) + "\n"
