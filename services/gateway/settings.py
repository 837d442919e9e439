"""The gateway's own settings (INSATS_GATEWAY_*, INSATS_OIDC_*), beside the platform's."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
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
    portal_outcomes_url: str | None = Field(
        default=None,
        description="The outcomes service's HTTP address (its dashboard), for programme owners' "
        "pages; without it the portal shows no programme pages.",
    )
    portal_intake_url: str | None = Field(
        default=None,
        description="The intake service's HTTP address, where caseworkers' identity reads go "
        "(with INSATS_IDENTITY_READ_SECRET); without it the portal shows no identities.",
    )
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
    # Outbound without Kafka: each tenant's own stream as a feed and as webhooks
    # (services/gateway/feed_*.py, webhook_*.py; docs/gateway-outbound.md).
    gateway_feed_retention_days: int = Field(
        default=30,
        ge=1,
        description="How long an event stays in the feed (and can still reach a webhook). "
        "Also how long a redelivered event is recognised as one already stored.",
    )
    gateway_secret_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Seals the webhooks' signing secrets in the gateway's database (at least 32 "
        "random characters; keep it apart from the database's backups). Webhooks are off "
        "without it: none is registered or delivered. Never logged.",
    )
    gateway_webhooks_per_tenant: int = Field(default=5, ge=1, le=50)
    gateway_webhook_allow_loopback: bool = Field(
        default=False,
        description="Webhook URLs on the loopback interface, over plain http too: for local "
        "development and tests only. Otherwise only https to public addresses.",
    )
    gateway_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    gateway_webhook_backoff_initial_seconds: float = Field(
        default=1.0, gt=0, description="The wait after a failed delivery's first attempt; doubles."
    )
    gateway_webhook_backoff_max_seconds: float = Field(
        default=300.0, gt=0, description="The longest wait between two attempts."
    )
    gateway_webhook_disable_after_hours: float = Field(
        default=72.0,
        gt=0,
        description="A webhook failing without a success for this long is disabled (kept, with "
        "its place in the feed), once it has also failed the attempts below in a row.",
    )
    gateway_webhook_disable_after_failures: int = Field(
        default=50,
        ge=1,
        description="The failed attempts in a row a webhook must also have before it is "
        "disabled: the gateway's own downtime is no receiver's failure.",
    )
    gateway_webhook_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often each replica looks for due deliveries."
    )
    gateway_webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a replica holds a subscription while it delivers: another "
        "replica takes over after this if it dies. Longer than a delivery's timeout.",
    )

    @model_validator(mode="after")
    def _webhook_lease_outlasts_a_delivery(self) -> GatewaySettings:
        # A lease that ran out mid-delivery would let a second replica send the same subscription
        # in parallel, out of order.
        if self.gateway_webhook_lease_seconds <= 2 * self.gateway_webhook_timeout_seconds:
            raise ValueError("gateway_webhook_lease_seconds must exceed twice the webhook timeout")
        return self
