"""The gateway's own settings (INSATS_GATEWAY_*, INSATS_OIDC_*), beside the platform's."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSATS_", extra="ignore", frozen=True)

    oidc_issuer: str = Field(
        description="The identity provider's issuer URL; tokens must name it in `iss`."
    )
    oidc_audience: str = Field(
        default="insats-gateway", description="What tokens must name in `aud`."
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="The signing keys; found by OIDC discovery when unset."
    )
    oidc_tenant_claim: str = Field(
        default="insats_tenant", description="The claim naming the caller's tenant."
    )
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)
    # The portal: people log in at the identity provider (authorization code flow with PKCE).
    portal_client_id: str = Field(default="insats-portal", max_length=200)
    portal_client_secret: SecretStr | None = Field(
        default=None, description="The portal's confidential client; the portal is off without it."
    )
    portal_session_hours: float = Field(default=8.0, gt=0, le=24)
    portal_secure_cookies: bool = Field(
        default=True, description="Cookies only over HTTPS; off only for a loopback dev portal."
    )
    gateway_max_body_bytes: int = Field(
        default=196_608,
        ge=1_024,
        le=10_485_760,
        description="A request body larger than this is refused (413). Below the inbound topics' "
        "bound (256 KiB), which the event's envelope must fit in too.",
    )
    gateway_max_csv_bytes: int = Field(
        default=2_097_152,
        ge=1_024,
        le=20_971_520,
        description="A CSV file of referrals larger than this is refused (413).",
    )
    gateway_request_retention_days: int = Field(
        default=30,
        ge=1,
        description="How long a request, its idempotency key and its status are kept.",
    )
    gateway_publish_timeout_seconds: float = Field(default=15.0, gt=0)
