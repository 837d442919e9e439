"""The outcomes service: journeys, follow-up answers and indicators against programme goals."""

from __future__ import annotations

from services.outcomes.handlers import OutcomesHandlers
from services.outcomes.store import OutcomesStore
from shared.contracts import topics
from shared.contracts.intake import ParticipantEnrolled, ReferralRejected
from shared.contracts.municipal import OutcomeReported, ProgrammeDefined
from shared.contracts.outcomes import OutcomeRecorded
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.messaging.consumer import Subscription
from shared.messaging.service import ServiceRuntime
from shared.settings import Settings

NAME = "outcomes"


def create(settings: Settings, *, configure_logs: bool = True) -> ServiceRuntime:
    runtime = ServiceRuntime(NAME, settings, configure_logs=configure_logs)
    store = OutcomesStore(runtime.db)
    handlers = OutcomesHandlers(store)
    runtime.on_start(store.ensure_indexes)
    runtime.subscribe(
        Subscription(
            name="programmes",
            topic=topics.MUNICIPAL_PROGRAMMES,
            accepts=frozenset({ProgrammeDefined.TYPE}),
            handler=handlers.on_programmes,
        )
    )
    runtime.subscribe(
        Subscription(
            name="intake-events",
            topic=topics.INTAKE_EVENTS,
            accepts=frozenset({ParticipantEnrolled.TYPE, ReferralRejected.TYPE}),
            handler=handlers.on_intake,
        )
    )
    runtime.subscribe(
        Subscription(
            name="placement-events",
            topic=topics.PLACEMENT_EVENTS,
            accepts=frozenset({PlacementStarted.TYPE, PlacementEnded.TYPE}),
            handler=handlers.on_placements,
        )
    )
    runtime.subscribe(
        Subscription(
            name="outcome-reports",
            topic=topics.MUNICIPAL_OUTCOME_REPORTS,
            accepts=frozenset({OutcomeReported.TYPE}),
            handler=handlers.on_outcome_reports,
        )
    )
    runtime.publishes(OutcomeRecorded)
    return runtime
