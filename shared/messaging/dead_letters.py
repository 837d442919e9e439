"""The dead-letter record: original key, bytes and headers, plus why and how often it failed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from shared.key_custody import MasterKeys
from shared.messaging.records import InboundRecord
from shared.outbox_seal import SEAL_HEADERS, is_sealed, open_record
from shared.persistence import OutboxRecord

H_CODE = "insats-dlq-code"
H_REASON = "insats-dlq-reason"
H_ATTEMPTS = "insats-dlq-attempts"
H_SERVICE = "insats-dlq-service"
H_ORIGIN = "insats-dlq-origin"  # topic:partition:offset of the original record
H_ORIGINAL_TOPIC = "insats-dlq-original-topic"
H_FAILED_AT = "insats-dlq-failed-at"
H_REPLAYED_FROM = "insats-replayed-from"
# Never taken over from the original record, nor replayed (a sender cannot forge a seal).
DLQ_HEADERS = frozenset(
    {H_CODE, H_REASON, H_ATTEMPTS, H_SERVICE, H_ORIGIN, H_ORIGINAL_TOPIC, H_FAILED_AT}
    | SEAL_HEADERS
)


def dead_letter_record(
    topic: str,
    service: str,
    record: InboundRecord,
    code: str,
    reason: str,
    attempts: int,
    now: datetime | None = None,
) -> OutboxRecord:
    added = (
        (H_CODE, code.encode()),
        (H_REASON, reason[:2_000].encode()),
        (H_ATTEMPTS, str(attempts).encode()),
        (H_SERVICE, service.encode()),
        (H_ORIGIN, record.coordinates.encode()),
        (H_ORIGINAL_TOPIC, record.topic.encode()),
        (H_FAILED_AT, (now or datetime.now(UTC)).isoformat().encode()),
    )
    kept = tuple((name, value) for name, value in record.headers if name not in DLQ_HEADERS)
    return OutboxRecord(topic=topic, key=record.key, value=record.value, headers=kept + added)


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter as an operator sees it."""

    dlq_topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""

    @property
    def sealed(self) -> bool:
        """Its bytes are sealed (intake's letters): only the master key opens them."""
        return is_sealed(self.headers)

    def opened(self, master: MasterKeys) -> DeadLetter:
        """The letter with its original bytes, and without the seal's headers."""
        if not self.sealed:
            return self
        return replace(
            self,
            value=open_record(master, self.value, self.headers),
            headers=tuple((n, v) for n, v in self.headers if n not in SEAL_HEADERS),
        )

    @property
    def code(self) -> str:
        return self.header(H_CODE)

    @property
    def reason(self) -> str:
        return self.header(H_REASON)

    @property
    def attempts(self) -> int:
        return int(self.header(H_ATTEMPTS) or 0)

    @property
    def original_topic(self) -> str:
        return self.header(H_ORIGINAL_TOPIC)

    @property
    def origin(self) -> str:
        return self.header(H_ORIGIN)

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    def replay_headers(self) -> list[tuple[str, bytes]]:
        if self.sealed:
            raise ValueError("a sealed dead letter is replayed opened, with the master key")
        kept = [(name, value) for name, value in self.headers if name not in DLQ_HEADERS]
        return [*kept, (H_REPLAYED_FROM, f"{self.dlq_topic}:{self.id}".encode())]
