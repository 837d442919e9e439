"""Every event type of the contract, by its type name, and the parser that uses them."""

from __future__ import annotations

import re
from typing import Any, Final, cast

from pydantic import TypeAdapter, ValidationError

from shared.contracts.answers import InputRejected
from shared.contracts.envelope import Envelope, EventData
from shared.contracts.intake import (
    ConsentChanged,
    EligibilityDecided,
    IdentityLinked,
    ParticipantEnrolled,
    ParticipantErased,
    ParticipantHandedOver,
    ParticipantMoved,
    ParticipantsMerged,
    ParticipationExited,
    PlanAdopted,
    ProtectedIdentityChanged,
    ReferralRejected,
    ReferralRejectedV2,
    SpecialCategoriesRecorded,
)
from shared.contracts.municipal import (
    AgreementSigned,
    AllocationRoundRequested,
    ConsentRecorded,
    ContributionDelivered,
    CostReported,
    ErasureRequested,
    IdentityLinkRecorded,
    OutcomeReported,
    ParticipationExitRecorded,
    PartnerRegistered,
    PartnerVetted,
    PlanRecorded,
    ProgrammeDefined,
    ProtectedIdentityRecorded,
    ReferralReceived,
    ResidenceChangeRecorded,
)
from shared.contracts.outcomes import FollowUpDue, OutcomeRecorded
from shared.contracts.partner import (
    AttendanceReported,
    ConcernReported,
    PlacementChangeReported,
    PlacementEndReported,
    SupportCheckInReported,
    SupportTaskClosedReported,
)
from shared.contracts.placement import (
    AttendanceRecorded,
    PartnerNotEligible,
    PartnerPlacementUpdated,
    PartnerSupportNotice,
    PlacementAtRisk,
    PlacementChanged,
    PlacementEnded,
    PlacementOffered,
    PlacementStarted,
    PlanProgressed,
    SupportCheckInDue,
    SupportTaskClosed,
    SupportTaskOpened,
)
from shared.contracts.scoped import ResidentEvent
from shared.contracts.tenants import Channel

EVENT_TYPES: Final[dict[str, type[EventData]]] = {
    model.TYPE: model
    for model in (
        ReferralReceived,
        ConsentRecorded,
        ProtectedIdentityRecorded,
        ErasureRequested,
        IdentityLinkRecorded,
        ResidenceChangeRecorded,
        ParticipationExitRecorded,
        PlanRecorded,
        ProgrammeDefined,
        AllocationRoundRequested,
        PartnerRegistered,
        PartnerVetted,
        AgreementSigned,
        ContributionDelivered,
        CostReported,
        OutcomeReported,
        PlacementEndReported,
        PlacementChangeReported,
        AttendanceReported,
        ConcernReported,
        SupportCheckInReported,
        SupportTaskClosedReported,
        ParticipantEnrolled,
        ReferralRejected,
        ReferralRejectedV2,
        SpecialCategoriesRecorded,
        EligibilityDecided,
        ConsentChanged,
        ProtectedIdentityChanged,
        ParticipantErased,
        ParticipationExited,
        PlanAdopted,
        ParticipantMoved,
        ParticipantHandedOver,
        ParticipantsMerged,
        IdentityLinked,
        PlacementOffered,
        PlacementStarted,
        PlacementChanged,
        PlacementEnded,
        PlacementAtRisk,
        PlanProgressed,
        AttendanceRecorded,
        PartnerNotEligible,
        SupportCheckInDue,
        PartnerPlacementUpdated,
        PartnerSupportNotice,
        SupportTaskOpened,
        SupportTaskClosed,
        ResidentEvent,
        OutcomeRecorded,
        FollowUpDue,
        InputRejected,
    )
}

_ENVELOPES: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(cast(Any, Envelope)[model]) for name, model in EVENT_TYPES.items()
}
_HEADER: Final = TypeAdapter(dict[str, Any])
_TYPE_NAME: Final = re.compile(r"insats\.[a-z0-9-]{1,40}(\.[a-z0-9-]{1,40}){0,3}\.v[0-9]{1,3}")


class UnreadableEvent(ValueError):
    """Bytes that are not an event of the contract. `code` says how they fail."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def types_on(channel: Channel) -> frozenset[str]:
    """Every type of the contract an inbound channel carries. A subscriber that reads a channel
    another service owns accepts all of them, and its handlers pass over what they do not need:
    a type a subscriber does not accept is dead-lettered as bad input."""
    return frozenset(name for name, model in EVENT_TYPES.items() if channel == model.CHANNEL)


def parse_event(raw: bytes) -> Envelope[Any]:
    """Parse and validate one record value. Raises UnreadableEvent with a clear reason."""
    try:
        document = _HEADER.validate_json(raw)
    except ValidationError as error:
        raise UnreadableEvent("INVALID_JSON", f"not a JSON object: {_first_error(error)}") from None
    event_type = document.get("type")
    if not isinstance(event_type, str) or event_type not in _ENVELOPES:
        # Echoed only when it looks like a type name: the field could hold anything, a
        # personnummer included, and reasons end up in logs, dead letters and answers.
        shown = (
            repr(event_type)
            if isinstance(event_type, str) and _TYPE_NAME.fullmatch(event_type)
            else "(not shown)"
        )
        raise UnreadableEvent("UNKNOWN_EVENT_TYPE", f"unknown event type {shown}")
    try:
        envelope: Envelope[Any] = _ENVELOPES[event_type].validate_python(document)
    except ValidationError as error:
        raise UnreadableEvent("SCHEMA_VIOLATION", _describe(error)) from None
    return envelope


def _first_error(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    return str(first.get("msg", "invalid"))


def _describe(error: ValidationError) -> str:
    """'data.personnummer: Field required; time: Input should have timezone info' - no values,
    since the input may hold a personnummer and reasons end up in logs and dead letters."""
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        location = ".".join(str(part) for part in item["loc"])
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def encode_event(envelope: Envelope[Any]) -> bytes:
    return envelope.model_dump_json(exclude_none=False).encode()
