"""The dead-letter record: original key, bytes and headers, plus why and how often it failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.messaging.records import InboundRecord
from shared.persistence import OutboxRecord

H_CODE = "insats-dlq-code"
H_REASON = "insats-dlq-reason"
H_ATTEMPTS = "insats-dlq-attempts"
H_SERVICE = "insats-dlq-service"
H_ORIGIN = "insats-dlq-origin"  # topic:partition:offset of the original record
H_ORIGINAL_TOPIC = "insats-dlq-original-topic"
H_FAILED_AT = "insats-dlq-failed-at"
H_REPLAYED_FROM = "insats-replayed-from"
DLQ_HEADERS = frozenset(
    {H_CODE, H_REASON, H_ATTEMPTS, H_SERVICE, H_ORIGIN, H_ORIGINAL_TOPIC, H_FAILED_AT}
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
        kept = [(name, value) for name, value in self.headers if name not in DLQ_HEADERS]
        return [*kept, (H_REPLAYED_FROM, f"{self.dlq_topic}:{self.id}".encode())]
