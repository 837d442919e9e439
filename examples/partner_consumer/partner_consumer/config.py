"""Settings from the environment: what the Insats operator gives you when you are onboarded."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The copies shipped with this example; INSATS_SCHEMAS points elsewhere, e.g. at a fresher copy.
SHIPPED_SCHEMAS = Path(__file__).resolve().parent / "schemas"


@dataclass(frozen=True)
class Config:
    partner_id: str
    bootstrap_servers: str
    topic_prefix: str = ""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None
    ssl_cafile: str | None = None
    schemas: Path = SHIPPED_SCHEMAS
    roster_db: Path = Path("roster.sqlite3")
    auto_accept: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        partner_id = environ.get("PARTNER_ID", "").strip()
        if not partner_id:
            raise SystemExit("PARTNER_ID is not set: your partner id, as the operator gave it")
        return cls(
            partner_id=partner_id,
            bootstrap_servers=environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            topic_prefix=environ.get("TOPIC_PREFIX", ""),
            security_protocol=environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper(),
            sasl_mechanism=environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").upper(),
            username=environ.get("KAFKA_USERNAME") or None,
            password=environ.get("KAFKA_PASSWORD") or None,
            ssl_cafile=environ.get("KAFKA_SSL_CAFILE") or None,
            schemas=Path(environ.get("INSATS_SCHEMAS") or SHIPPED_SCHEMAS),
            roster_db=Path(environ.get("ROSTER_DB", "roster.sqlite3")),
            auto_accept=environ.get("AUTO_ACCEPT", "false").strip().lower() in {"1", "true", "yes"},
        )

    @property
    def placements_topic(self) -> str:
        return f"{self.topic_prefix}insats.partner.{self.partner_id}.placements"

    @property
    def reports_topic(self) -> str:
        # Your own topic: only your Kafka user may write it, and Insats knows from it that the
        # reports are yours.
        return f"{self.topic_prefix}insats.partner.{self.partner_id}.placement-reports"

    @property
    def consumer_group(self) -> str:
        # The operator's ACLs allow only groups starting with "partner-<your id>.".
        return f"partner-{self.partner_id}.roster"

    @property
    def source(self) -> str:
        """The envelope's `source` for what this partner publishes."""
        return f"urn:partner:{self.partner_id}"
