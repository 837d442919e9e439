"""The placement service: enrolments wait for places at partners; placements start and end."""

from __future__ import annotations

from services.placement.handlers import PlacementHandlers
from services.placement.store import PlacementStore
from shared.contracts import topics
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import AgreementSigned, PartnerRegistered, ProgrammeDefined
from shared.contracts.partner import PlacementEndReported
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.messaging.consumer import Subscription
from shared.messaging.service import ServiceRuntime
from shared.settings import Settings

NAME = "placement"


def create(settings: Settings, *, configure_logs: bool = True) -> ServiceRuntime:
    runtime = ServiceRuntime(NAME, settings, configure_logs=configure_logs)
    store = PlacementStore(runtime.db)
    handlers = PlacementHandlers(store)
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
            name="partners",
            topic=topics.MUNICIPAL_PARTNERS,
            accepts=frozenset({PartnerRegistered.TYPE, AgreementSigned.TYPE}),
            handler=handlers.on_partners,
        )
    )
    runtime.subscribe(
        Subscription(
            name="enrolments",
            topic=topics.INTAKE_EVENTS,
            accepts=frozenset({ParticipantEnrolled.TYPE}),
            handler=handlers.on_enrolments,
        )
    )
    runtime.subscribe(
        Subscription(
            name="partner-reports",
            topic=topics.PARTNER_REPORTS,
            accepts=frozenset({PlacementEndReported.TYPE}),
            handler=handlers.on_reports,
        )
    )
    runtime.publishes(PlacementStarted, PlacementEnded)
    return runtime
