"""What a consumer receives, kept as the broker delivered it, so a dead letter carries the
original bytes and headers and an operator can replay it unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from shared.contracts.envelope import Envelope
from shared.contracts.tenants import Tenant
from shared.observability import event_fields, get_logger


@dataclass(frozen=True)
class InboundRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int
    # 1: the broker set the timestamp when it appended the record (LogAppendTime, as on every
    # inbound topic Insats configures), so the sender cannot choose it; 0: the producer did.
    timestamp_type: int = 0

    @classmethod
    def from_consumer_record(cls, record: Any) -> InboundRecord:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value if record.value is not None else b"",
            headers=tuple((str(name), bytes(value or b"")) for name, value in record.headers or ()),
            timestamp_ms=record.timestamp,
            timestamp_type=getattr(record, "timestamp_type", 0) or 0,
        )

    @property
    def appended_at(self) -> datetime | None:
        """When the broker appended the record, if the broker (not the sender) said so."""
        if self.timestamp_type != 1 or self.timestamp_ms is None or self.timestamp_ms < 0:
            return None
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def coordinates(self) -> str:
        """Where the record sits: the inbox id of what cannot be identified by an event id."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def ordering_key(self) -> bytes:
        """Records with the same key must be applied in order; keyless ones stand alone."""
        return self.key if self.key is not None else self.coordinates.encode()


@dataclass(frozen=True)
class Received:
    """A record that parsed into an event of the contract."""

    record: InboundRecord
    event: Envelope[Any]
    # Who sent it, for what arrives on an inbound topic: from the topic itself, or (on a shared
    # topic during a migration) from the envelope's source. None on the services' own topics.
    tenant: Tenant | None = None

    @property
    def inbox_id(self) -> str:
        return self.event.scoped_id

    @property
    def log(self) -> structlog.stdlib.BoundLogger:
        """A logger whose every line names this event, its correlation id and municipality."""
        return get_logger("insats.events").bind(
            **event_fields(self.event), origin=self.record.coordinates
        )
