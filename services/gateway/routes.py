"""Which HTTP path carries which event type of the contract.

One path per inbound event type, named for what a case system or a partner does ("a referral",
"an attendance report"), not for the event's type name. The body of each is the event's `data`:
the same model, bounds and JSON Schema as on Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shared.contracts.envelope import EventData
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
from shared.contracts.partner import (
    AttendanceReported,
    ConcernReported,
    PlacementChangeReported,
    PlacementEndReported,
    SupportCheckInReported,
    SupportTaskClosedReported,
)
from shared.contracts.tenants import CHANNELS, Channel, TenantKind


@dataclass(frozen=True)
class Route:
    path: str
    model: type[EventData]
    summary: str

    @property
    def channel(self) -> Channel:
        assert self.model.CHANNEL is not None
        return Channel(self.model.CHANNEL)

    @property
    def operation_id(self) -> str:
        return "publish_" + self.path.strip("/").replace("/", "_").replace("-", "_")

    def allowed_for(self, kind: TenantKind) -> bool:
        return self.channel in CHANNELS[kind]


ROUTES: Final[tuple[Route, ...]] = (
    Route("/referrals", ReferralReceived, "Refer a resident to a programme"),
    Route("/consents", ConsentRecorded, "Record a resident's consent, or its withdrawal"),
    Route(
        "/protected-identities",
        ProtectedIdentityRecorded,
        "Record that a resident's identity is protected (skyddad identitet)",
    ),
    Route("/erasure-requests", ErasureRequested, "Ask for a resident's data to be erased"),
    Route("/exits", ParticipationExitRecorded, "Record that a resident left a programme"),
    Route("/plans", PlanRecorded, "Record a resident's individual plan"),
    Route("/residence-changes", ResidenceChangeRecorded, "Record that a resident moved"),
    Route(
        "/identity-links",
        IdentityLinkRecorded,
        "Link a samordningsnummer to the personnummer the resident received",
    ),
    Route("/programmes", ProgrammeDefined, "Define a programme, or a new version of it"),
    Route("/programme-costs", CostReported, "Report a programme's costs for a period"),
    Route("/allocation-rounds", AllocationRoundRequested, "Ask for an allocation round now"),
    Route("/partners", PartnerRegistered, "Register a partner and its workplaces"),
    Route("/partner-vettings", PartnerVetted, "Record the vetting of an IOP partner"),
    Route("/agreements", AgreementSigned, "Record a signed agreement with a partner"),
    Route("/contributions", ContributionDelivered, "Report a contribution delivered (IOP)"),
    Route("/outcome-reports", OutcomeReported, "Answer a follow-up about a resident"),
    Route("/placement-reports/ends", PlacementEndReported, "Report that a placement ended"),
    Route(
        "/placement-reports/changes",
        PlacementChangeReported,
        "Accept or decline an offer; report a start, a pause, a resumption or new hours",
    ),
    Route(
        "/placement-reports/attendance",
        AttendanceReported,
        "Report a week's attendance, with reasons for absence",
    ),
    Route("/placement-reports/concerns", ConcernReported, "Report a concern about a placement"),
    Route(
        "/placement-reports/support-check-ins",
        SupportCheckInReported,
        "Answer a support check-in",
    ),
    Route(
        "/placement-reports/support-task-closures",
        SupportTaskClosedReported,
        "Report a support task done",
    ),
)

ROUTE_OF_TYPE: Final[dict[str, Route]] = {route.model.TYPE: route for route in ROUTES}
