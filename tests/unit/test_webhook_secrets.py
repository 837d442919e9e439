"""Webhook secrets at rest: sealed with AES-GCM under a key derived from the gateway's setting,
opening only under that key, for the subscription and tenant they were sealed for, unaltered."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from services.gateway.settings import GatewaySettings
from services.gateway.webhook_secrets import SecretBox, SecretUnreadable
from services.gateway.webhook_signature import new_secret
from shared.contracts.tenants import Tenant

KEY = SecretStr("k" * 32 + "-the-deployments-own")
HALMSTAD, KUNGSBACKA = Tenant.municipality("1380"), Tenant.municipality("1384")
SUBSCRIPTION = "0e7c6d1a-4b0f-4a58-9d36-1f0b8c2e5a77"


def test_a_sealed_secret_opens_under_the_same_key_and_holds_nothing_of_it_in_clear() -> None:
    secret = new_secret()

    sealed = SecretBox(KEY).seal(secret, SUBSCRIPTION, HALMSTAD)

    assert secret.encode() not in sealed
    assert secret.removeprefix("whsec_").encode() not in sealed
    # Another replica, started with the same setting, opens it.
    assert SecretBox(KEY).open(sealed, SUBSCRIPTION, HALMSTAD) == secret
    # Each seal is fresh: the same secret sealed twice does not look the same.
    assert SecretBox(KEY).seal(secret, SUBSCRIPTION, HALMSTAD) != sealed


@pytest.mark.parametrize(
    ("what", "key", "subscription", "tenant"),
    [
        ("another key", SecretStr("another-deployments-key-of-32-chars!"), SUBSCRIPTION, HALMSTAD),
        ("another subscription", KEY, "5d0c1f7a-92b4-4e63-8a1e-3f6b2c9d4e80", HALMSTAD),
        ("another tenant", KEY, SUBSCRIPTION, KUNGSBACKA),
    ],
)
def test_a_sealed_secret_does_not_open_under_another_key_or_moved_elsewhere(
    what: str, key: SecretStr, subscription: str, tenant: Tenant
) -> None:
    sealed = SecretBox(KEY).seal(new_secret(), SUBSCRIPTION, HALMSTAD)

    with pytest.raises(SecretUnreadable):
        SecretBox(key).open(sealed, subscription, tenant)


@pytest.mark.parametrize("where", [0, 5, -1])
def test_an_altered_or_truncated_seal_does_not_open(where: int) -> None:
    sealed = bytearray(SecretBox(KEY).seal(new_secret(), SUBSCRIPTION, HALMSTAD))
    sealed[where] ^= 0x01

    with pytest.raises(SecretUnreadable):
        SecretBox(KEY).open(bytes(sealed), SUBSCRIPTION, HALMSTAD)
    with pytest.raises(SecretUnreadable):
        SecretBox(KEY).open(bytes(sealed[:13]), SUBSCRIPTION, HALMSTAD)


def test_the_key_setting_is_a_secret_of_at_least_32_characters_and_optional() -> None:
    issuer = "https://idp.invalid/realms/insats"

    assert GatewaySettings(oidc_issuer=issuer).gateway_secret_key is None
    configured = GatewaySettings(oidc_issuer=issuer, gateway_secret_key=KEY.get_secret_value())
    assert KEY.get_secret_value() not in repr(configured)
    with pytest.raises(ValidationError):
        GatewaySettings(oidc_issuer=issuer, gateway_secret_key="too-short")
