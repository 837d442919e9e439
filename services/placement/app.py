"""The placement service: partners, agreements and programmes; waiting lists, offers and the
placement lifecycle; attendance, risks and support check-ins; each partner's own stream."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.placement.handlers import PlacementHandlers
from services.placement.store import PlacementStore
from shared.contracts import topics
from shared.contracts.answers import InputRejected
from shared.contracts.envelope import EventData
from shared.contracts.intake import (
    ConsentChanged,
    EligibilityDecided,
    ParticipantEnrolled,
    ParticipantErased,
    ParticipantMoved,
    ParticipantsMerged,
    ParticipationExited,
    PlanAdopted,
    ProtectedIdentityChanged,
)
from shared.contracts.municipal import (
    AgreementSigned,
    AllocationRoundRequested,
    ContributionDelivered,
    CostReported,
    PartnerRegistered,
    PartnerVetted,
    ProgrammeDefined,
)
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
from shared.messaging.consumer import BatchHandler, Subscription
from shared.messaging.service import ServiceRuntime
from shared.persistence import Transaction
from shared.settings import Settings

NAME = "placement"


def create(
    settings: Settings,
    *,
    configure_logs: bool = True,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ServiceRuntime:
    """The service; `clock` is what the allocation job takes for now (injected by tests)."""
    runtime = ServiceRuntime(NAME, settings, configure_logs=configure_logs)
    store = PlacementStore(runtime.db)
    handlers = PlacementHandlers(store, settings)
    runtime.on_start(store.ensure_indexes)
    # Placement owns the programme, partner and report channels: it answers what it refuses.
    inbound: tuple[tuple[str, Channel, set[type[EventData]], BatchHandler], ...] = (
        (
            "programmes",
            Channel.PROGRAMMES,
            {ProgrammeDefined, AllocationRoundRequested, CostReported},
            handlers.on_programmes,
        ),
        (
            "partners",
            Channel.PARTNERS,
            {PartnerRegistered, PartnerVetted, AgreementSigned, ContributionDelivered},
            handlers.on_partners,
        ),
        (
            "partner-reports",
            Channel.PLACEMENT_REPORTS,
            {
                PlacementEndReported,
                PlacementChangeReported,
                AttendanceReported,
                ConcernReported,
                SupportCheckInReported,
                SupportTaskClosedReported,
            },
            handlers.on_reports,
        ),
    )
    for name, channel, types, handler in inbound:
        runtime.subscribe(
            Subscription(
                name=name,
                channel=channel,
                accepts=frozenset(t.TYPE for t in types),
                handler=handler,
                answers=True,
            )
        )
    runtime.subscribe(
        Subscription(
            name="enrolments",
            topic=topics.INTAKE_EVENTS,
            accepts=frozenset(
                t.TYPE
                for t in (
                    ParticipantEnrolled,
                    ConsentChanged,
                    ProtectedIdentityChanged,
                    ParticipationExited,
                    ParticipantMoved,
                    ParticipantErased,
                    ParticipantsMerged,
                    EligibilityDecided,
                    PlanAdopted,
                )
            ),
            handler=handlers.on_intake,
        )
    )

    dead_letters = settings.topic(topics.dead_letter_topic(NAME))

    async def emit_due_check_ins() -> None:
        async def work(tx: Transaction) -> int:
            return await handlers.emit_due_check_ins(tx, settings.business_today(), dead_letters)

        if await runtime.db.in_transaction(work):
            runtime.relay.wake()

    runtime.every(settings.due_check_seconds, emit_due_check_ins)

    async def expire_offers() -> None:
        # Offers unanswered past their programme's response time: each programme in its own
        # transaction, on the business day (INSATS_TODAY where set), like the check-ins.
        if await handlers.expire_offers(runtime.db, settings.business_today(), dead_letters):
            runtime.relay.wake()

    runtime.every(settings.due_check_seconds, expire_offers)

    async def allocate_due() -> None:
        # Bursts that have settled, and the rounds that have come: each in its own transaction.
        if await handlers.allocate_due(
            runtime.db,
            clock(),
            dead_letters,
            rounds=settings.allocation_scheduled_rounds,
        ):
            runtime.relay.wake()

    runtime.every(settings.allocation_check_seconds, allocate_due)
    runtime.publishes(
        PlacementOffered,
        PlacementStarted,
        PlacementChanged,
        PlacementEnded,
        PlacementAtRisk,
        AttendanceRecorded,
        PartnerNotEligible,
        SupportCheckInDue,
        SupportTaskOpened,
        SupportTaskClosed,
        PlanProgressed,
        PartnerSupportNotice,
        PartnerPlacementUpdated,
        ResidentEvent,
        InputRejected,
    )
    return runtime
