"""One envelope for every event, with CloudEvents attribute names.

The envelope travels as the JSON value of the Kafka record (CloudEvents structured mode), so a
consumer that only has kcat and a JSON parser sees everything. `subject` is the aggregate id and
also the record key: one participant's events share a partition and stay in order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.vocabulary import Kommunkod

# A fixed namespace makes derived event ids reproducible: re-handling the same input (a replay,
# a rebuild, a redelivery after a crash) yields the same outgoing ids, which consumers deduplicate.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1c3e0a-8f7b-4b8e-9c55-2f1d7a3b9e10")


class ContractModel(BaseModel):
    """Frozen, and tolerant of fields it does not know: additive changes keep the version."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class EventData(ContractModel):
    """The payload of one event type. Subclasses name their type and the topic it lives on."""

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]

    def subject(self) -> str:
        """The aggregate id: the envelope's subject and the Kafka key."""
        raise NotImplementedError


DataT = TypeVar("DataT", bound=EventData)


class Envelope(BaseModel, Generic[DataT]):
    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(description="Unique per event; consumers deduplicate on it.")
    type: str = Field(description="Event type with version, e.g. insats.placement.started.v1.")
    source: str = Field(description="The producing system, e.g. /insats/intake or urn:kommun:1384.")
    time: AwareDatetime = Field(description="When the fact happened, with a UTC offset.")
    subject: str = Field(description="The aggregate id; also the Kafka record key.")
    municipality: Kommunkod | None = Field(
        default=None, description="The kommunkod the event concerns, for scoped streams."
    )
    correlationid: str | None = Field(
        default=None, description="Shared by every event one original input caused."
    )
    causationid: str | None = Field(default=None, description="The id of the event that caused it.")
    datacontenttype: Literal["application/json"] = "application/json"
    data: DataT

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        # Readable schema names in AsyncAPI and JSON Schema: "ReferralReceivedEvent".
        return f"{params[0].__name__}Event"


def derive_event_id(cause: str, discriminator: str) -> uuid.UUID:
    return uuid.uuid5(_EVENT_ID_NAMESPACE, f"{cause}/{discriminator}")


def new_event(
    data: DataT,
    *,
    source: str,
    municipality: str | None,
    cause: Envelope[Any] | None = None,
    time: datetime | None = None,
    discriminator: str = "",
    event_id: uuid.UUID | None = None,
) -> Envelope[DataT]:
    """An envelope around `data`. With a `cause`, the id is derived from it and the correlation
    id carried over, so handling the same input twice produces the very same event."""
    if event_id is None:
        event_id = (
            derive_event_id(str(cause.id), f"{data.TYPE}/{discriminator}")
            if cause is not None
            else uuid.uuid4()
        )
    correlation = (cause.correlationid or str(cause.id)) if cause is not None else str(event_id)
    envelope_class: Any = cast(Any, Envelope)[type(data)]
    envelope: Envelope[DataT] = envelope_class(
        id=event_id,
        type=data.TYPE,
        source=source,
        time=time or datetime.now(UTC),
        subject=data.subject(),
        municipality=municipality,
        correlationid=correlation,
        causationid=str(cause.id) if cause is not None else None,
        data=data,
    )
    return envelope
