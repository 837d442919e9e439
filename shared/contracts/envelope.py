"""One envelope for every event, with CloudEvents attribute names.

The envelope travels as the JSON value of the Kafka record (CloudEvents structured mode), so a
consumer that only has kcat and a JSON parser sees everything. `subject` is the aggregate id and
also the record key: one participant's events share a partition and stay in order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
)

from shared.contracts.vocabulary import EARLIEST_DATE, LATEST_DATE, Identifier, Kommunkod

# A fixed namespace makes derived event ids reproducible: re-handling the same input (a replay,
# a rebuild, a redelivery after a crash) yields the same outgoing ids, which consumers deduplicate.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1c3e0a-8f7b-4b8e-9c55-2f1d7a3b9e10")


class ContractModel(BaseModel):
    """Frozen, and tolerant of fields it does not know: additive changes keep the version.
    NaN and infinities are refused: JSON has no such numbers and arithmetic on them spreads."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


def _plausible_time(moment: datetime) -> datetime:
    if not EARLIEST_DATE.year <= moment.year <= LATEST_DATE.year:
        raise ValueError(f"must lie between {EARLIEST_DATE.year} and {LATEST_DATE.year}")
    return moment


# Attributes of the envelope that a sender chooses and every caused event carries on (as its
# correlation id, in its headers): printable ASCII, bounded, so one input cannot make every
# record it causes too large for the broker.
_Attribute = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")]
EventType = Annotated[
    str, StringConstraints(max_length=100, pattern=r"^[a-z0-9][a-z0-9.-]*\.v[0-9]+$")
]


class EventData(ContractModel):
    """The payload of one event type. Subclasses name their type and the topic it lives on."""

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]
    # For what outside systems publish: the channel of the tenant's own topics it travels on
    # (shared/contracts/tenants.py). TOPIC is then the channel's shared topic of earlier versions.
    CHANNEL: ClassVar[str | None] = None

    def subject(self) -> str:
        """The aggregate id: the envelope's subject and the Kafka key."""
        raise NotImplementedError


DataT = TypeVar("DataT", bound=EventData)


class Envelope(BaseModel, Generic[DataT]):
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(description="Unique per event; consumers deduplicate on it.")
    type: EventType = Field(
        description="Event type with version, e.g. insats.placement.started.v1."
    )
    source: _Attribute = Field(
        description="The producing system, e.g. /insats/intake or urn:kommun:1384. On an inbound "
        "topic Insats sets it from the topic's tenant, whatever the sender wrote."
    )
    time: Annotated[AwareDatetime, AfterValidator(_plausible_time)] = Field(
        description="When the fact happened, with a UTC offset."
    )
    subject: Identifier = Field(description="The aggregate id; also the Kafka record key.")
    municipality: Kommunkod | None = Field(
        default=None, description="The kommunkod the event concerns, for scoped streams."
    )
    correlationid: _Attribute | None = Field(
        default=None, description="Shared by every event one original input caused."
    )
    causationid: _Attribute | None = Field(
        default=None, description="The id of the event that caused it."
    )
    datacontenttype: Literal["application/json"] = "application/json"
    data: DataT
    # Set at the boundary for what arrived on a tenant's own topic: the tenant's key.
    _id_scope: str | None = PrivateAttr(default=None)

    @property
    def scoped_id(self) -> str:
        """The id as inboxes and derived ids know it. On a tenant's own topic it is qualified by
        the tenant, so no tenant can pre-empt another's event (or the events it causes) by
        reusing its id; elsewhere it is the id itself, as in earlier versions."""
        return f"{self._id_scope}/{self.id}" if self._id_scope else str(self.id)

    def as_sent_by(self, tenant_key: str, urn: str, *, verified: bool) -> Envelope[DataT]:
        """This envelope as the boundary knows it: `source` is the tenant that sent it, and,
        where the tenant is known from its own topic, ids are scoped to it."""
        copy = self.model_copy(update={"source": urn})
        copy._id_scope = tenant_key if verified else None
        return copy

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
            derive_event_id(cause.scoped_id, f"{data.TYPE}/{discriminator}")
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
