"""Every knob is an environment variable (INSATS_*), so the same image runs on a laptop against the
local stack and in Kubernetes against a Kafka cluster and a MongoDB replica set."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.business_day import day_in_sweden


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSATS_", extra="ignore", frozen=True)

    # Broker
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    topic_prefix: str = Field(default="", description="Prepended to every topic name.")
    create_topics: bool = Field(
        default=True, description="Create missing topics at start (off where Strimzi owns them)."
    )
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    referral_retention_hours: int = Field(
        default=72, ge=1, description="Retention of the inbound referral topic (clear identities)."
    )
    kafka_metadata_max_age_ms: int = Field(
        default=30_000,
        ge=100,
        description="How often consumers look for new topics: a tenant onboarded later is read "
        "from this long after its topics are created.",
    )
    # The trust boundary (shared/contracts/tenants.py).
    shared_inbound_topics: bool = Field(
        default=False,
        description="Also read the shared inbound topics of earlier versions, where the tenant "
        "is what the envelope's source claims: only while a deployment migrates.",
    )
    inbound_max_message_bytes: int = Field(
        default=262_144,
        ge=16_384,
        description="max.message.bytes of the inbound topics: the broker refuses larger records.",
    )
    referral_max_age_days: int = Field(
        default=90,
        ge=1,
        description="A referral dated more than this many days before intake received it is "
        "refused (REFERRAL_DATE_OUT_OF_RANGE); one dated more than a day after, too.",
    )

    # Database: one database per service, named <database_prefix>_<service>
    mongodb_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/?directConnection=true")
    database_prefix: str = "insats"

    # Consumers
    consumer_group_prefix: str = "insats"
    batch_max_records: int = Field(default=500, ge=1)
    batch_timeout_ms: int = Field(default=50, ge=0)
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=2_000, ge=100)
    retry_attempts: int = Field(default=4, ge=1, description="Tries of a failing message.")
    retry_backoff_ms: int = Field(default=100, ge=0, description="First backoff; doubles.")
    retry_backoff_max_ms: int = Field(default=2_000, ge=0)
    infrastructure_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a batch waits for the database before it is "
        "handed back to the broker to be fetched again.",
    )

    # Outbox relay
    relay_poll_ms: int = Field(default=500, ge=10)
    relay_batch_size: int = Field(default=1_000, ge=1)
    relay_lease_seconds: float = Field(default=10.0, gt=0)
    relay_max_record_bytes: int = Field(
        default=1_000_000,
        ge=16_384,
        description="A record larger than this is parked, not sent: the broker would refuse it.",
    )
    relay_parked_retry_seconds: float = Field(
        default=30.0, gt=0, description="How often parked records whose topic was missing retry."
    )

    # Readiness: a service is not ready while it cannot do its work, whatever still answers.
    ready_max_outbox_age_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Not ready while the oldest unpublished outbox record is older than this.",
    )
    ready_max_batch_seconds: float = Field(
        default=300.0, gt=0, description="Not ready while one batch has been in flight this long."
    )

    # Process
    shutdown_grace_seconds: float = Field(
        default=20.0, gt=0, description="Must stay below the pod's terminationGracePeriodSeconds."
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector, e.g. http://otel-collector:4318; "
        "tracing is off without it.",
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # Intake: the key of the lookup from a personnummer to its participant. Never logged, never
    # in an event.
    pseudonym_key: SecretStr | None = None
    # Every service: the key of the id each partner and municipality sees a participant under
    # (shared/audience.py). The same in every service. Never logged.
    audience_key: SecretStr | None = None
    # Intake: wraps each person's own key (64 hex characters = 256 bits). Never logged.
    identity_master_key: SecretStr | None = None
    # Intake and the gateway: what the portal presents to intake to open a resident's identity
    # for a caseworker (services/intake/identity_endpoint.py). Intake serves no identity reads
    # without it. Never logged.
    identity_read_secret: SecretStr | None = Field(default=None, min_length=32)
    # Intake: erase participants this many days after their last event (off when unset).
    retention_days: int | None = Field(default=None, ge=1)
    retention_check_seconds: float = Field(default=3_600.0, gt=0)
    # Every service: how long the records that only bookkeeping needs are kept, each by a TTL
    # index (kept for ever when unset; shared/expiry.py).
    inbox_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Forget an applied event's id this many days after it was applied. No "
        "shorter than the longest retention of the service's input topics, or a record "
        "delivered again after that would be applied twice.",
    )
    audit_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Delete audit entries (identity reads, erasures, dead-letter access) this "
        "many days after they were written: as the programme owner's records rules say.",
    )
    decision_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="Intake: delete referral decisions this many days after they were made "
        "(a person only ever rejected has no participant whose erasure removes them).",
    )

    # Follow-ups and support check-ins fall due against today's date in Sweden, whatever zone the
    # pod runs in; a demo or a test may fix the day (INSATS_TODAY=YYYY-MM-DD).
    today: date | None = None
    due_check_seconds: float = Field(default=60.0, gt=0)
    # Placement: how often settled bursts and scheduled allocation rounds are looked for, and
    # whether scheduled rounds are held at all (off where a replay or demo plays past rounds by
    # insats.allocation.round-requested.v1, as the wall clock would hold today's round).
    allocation_check_seconds: float = Field(default=1.0, gt=0)
    allocation_scheduled_rounds: bool = True

    def business_today(self) -> date:
        return self.today or day_in_sweden(datetime.now(UTC))

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> Settings:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def database_name(self, service: str) -> str:
        return f"{self.database_prefix}_{service}"

    def consumer_group(self, service: str, subscriber: str) -> str:
        return f"{self.consumer_group_prefix}-{service}.{subscriber}"


class ExplicitSettings(Settings):
    """Settings from the values given and the defaults alone: the INSATS_* variables of the
    machine running a check or a generator must not leak into what it checks or writes."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
