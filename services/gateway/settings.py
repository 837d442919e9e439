"""The gateway's own settings (INSATS_GATEWAY_*, INSATS_OIDC_*), beside the platform's."""

from __future__ import annotations

from pydantic import Field
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
    gateway_max_body_bytes: int = Field(
        default=196_608,
        ge=1_024,
        le=10_485_760,
        description="A request body larger than this is refused (413). Below the inbound topics' "
        "bound (256 KiB), which the event's envelope must fit in too.",
    )
    gateway_request_retention_days: int = Field(
        default=30,
        ge=1,
        description="How long a request, its idempotency key and its status are kept.",
    )
    gateway_publish_timeout_seconds: float = Field(default=15.0, gt=0)
