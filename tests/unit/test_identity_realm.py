"""The realm the local Keycloak imports: every client's tokens are for the gateway's audience and
name a tenant, and the user profile keeps a person's tenant and role out of their own hands and
in Tenant.key's grammar."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from scripts.stack.keycloak_realm import (
    AUDIENCE,
    PORTAL_CLIENT,
    ROLE_CLAIM,
    ROLES,
    TENANT_CLAIM,
    TENANT_KEY_PATTERN,
    api_client,
    realm_json,
)
from shared.contracts.tenants import InvalidTenant, Tenant


def _mappers(client: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mapper["protocolMapper"]: mapper["config"] for mapper in client["protocolMappers"]}


def _user_profile(realm: dict[str, Any]) -> dict[str, Any]:
    (provider,) = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    profile: dict[str, Any] = json.loads(provider["config"]["kc.user.profile.config"][0])
    return profile


def test_the_realm_parses_and_is_the_same_text_each_time() -> None:
    realm = json.loads(realm_json())

    assert realm["realm"] == "insats"
    assert realm["accessTokenLifespan"] == 300
    assert realm_json() == realm_json()


def test_the_portal_puts_the_audience_and_the_person_s_tenant_and_role_in_its_tokens() -> None:
    realm = json.loads(realm_json())
    (portal,) = [c for c in realm["clients"] if c["clientId"] == PORTAL_CLIENT]

    mappers = _mappers(portal)
    attributes = [
        m["config"]["user.attribute"]
        for m in portal["protocolMappers"]
        if m["protocolMapper"] == "oidc-usermodel-attribute-mapper"
    ]

    assert mappers["oidc-audience-mapper"]["included.custom.audience"] == AUDIENCE
    assert sorted(attributes) == sorted([TENANT_CLAIM, ROLE_CLAIM])
    assert portal["standardFlowEnabled"] and not portal["publicClient"]
    assert not portal["directAccessGrantsEnabled"]


def test_an_api_client_names_its_tenant_by_a_hardcoded_claim_and_has_no_login_flow() -> None:
    client = api_client("api-municipality-1384", Tenant.municipality("1384"))

    mappers = _mappers(client)

    assert mappers["oidc-hardcoded-claim-mapper"]["claim.name"] == TENANT_CLAIM
    assert mappers["oidc-hardcoded-claim-mapper"]["claim.value"] == "municipality:1384"
    assert mappers["oidc-audience-mapper"]["included.custom.audience"] == AUDIENCE
    assert client["serviceAccountsEnabled"] and not client["standardFlowEnabled"]


def test_only_an_admin_sees_or_sets_a_person_s_tenant_and_role() -> None:
    profile = _user_profile(json.loads(realm_json()))
    declared = {attribute["name"]: attribute for attribute in profile["attributes"]}

    for name in (TENANT_CLAIM, ROLE_CLAIM):
        assert declared[name]["permissions"] == {"view": ["admin"], "edit": ["admin"]}
    assert declared[ROLE_CLAIM]["validations"]["options"]["options"] == list(ROLES)
    # A required attribute a person lacks would hold their first login on a profile form.
    assert not any("required" in attribute for attribute in profile["attributes"])


@pytest.mark.parametrize(
    "key",
    ["municipality:1384", "owner:kalmar-lan", "partner:erikshjalpen-vimmerby", "partner:a_1"],
)
def test_keycloak_accepts_every_tenant_key(key: str) -> None:
    assert re.fullmatch(TENANT_KEY_PATTERN, Tenant.from_key(key).key)


@pytest.mark.parametrize(
    "key", ["municipality:138", "owner:Kalmar", "partner:-x", "admin:1384", "municipality:1384 "]
)
def test_keycloak_refuses_what_is_no_tenant_key(key: str) -> None:
    with pytest.raises((InvalidTenant, ValueError)):
        Tenant.from_key(key)
    assert not re.fullmatch(TENANT_KEY_PATTERN, key)
