"""What of a tenant's stream goes into its feed: one record, read as an event envelope, or the
reason it is skipped. Pure: the consumer decides what to log and commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from shared.contracts.envelope import EventType
from shared.contracts.tenants import Tenant
from shared.contracts.vocabulary import Identifier, Kommunkod


@dataclass(frozen=True)
class StreamRecord:
    tenant: Tenant
    event_id: uuid.UUID
    event_type: str
    # The envelope exactly as the service published it: a webhook's body and what its
    # signature covers, so a receiver sees the bytes a Kafka consumer would.
    value: str
    origin: str  # topic:partition:offset, for an operator tracing an entry back


def _aware(moment: str) -> str:
    # Kept as the producer wrote it (the feed shows the envelope as published); checked only.
    if TypeAdapter(AwareDatetime).validate_python(moment) is None:
        raise ValueError("not a time")
    return moment


class FeedEvent(BaseModel):
    """An event envelope as a tenant's stream carries it (README: "One record, one event").
    What is stored in a feed has passed this, so the feed's answers always fit it; attributes
    and types it does not know yet pass through."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: uuid.UUID = Field(description="Unique per event: deduplicate on it.")
    type: EventType = Field(description="The event type with its version.")
    source: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    time: Annotated[str, StringConstraints(max_length=64), AfterValidator(_aware)] = Field(
        description="When the fact happened, with a UTC offset (RFC 3339)."
    )
    subject: Identifier | None = None
    municipality: Kommunkod | None = None
    correlationid: Annotated[str, StringConstraints(max_length=128)] | None = None
    causationid: Annotated[str, StringConstraints(max_length=128)] | None = None
    datacontenttype: Annotated[str, StringConstraints(max_length=100)] | None = None
    data: dict[str, Any] = Field(description="The payload: docs/contract/schemas/<type>.json.")


def read_record(
    tenant: Tenant, topic: str, partition: int, offset: int, value: bytes | None
) -> StreamRecord | str:
    """The record as a feed entry of `tenant` (known from the topic), or why it is none."""
    if value is None:
        return "no value"
    try:
        text = value.decode("utf-8")
        envelope = FeedEvent.model_validate_json(text)
    except UnicodeDecodeError:
        return "not UTF-8"
    except ValidationError as error:
        return f"not an event envelope: {error.error_count()} problems"
    return StreamRecord(
        tenant=tenant,
        event_id=envelope.id,
        event_type=envelope.type,
        value=text,
        origin=f"{topic}:{partition}:{offset}",
    )
