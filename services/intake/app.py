"""The intake service: referrals, consents and erasure requests in; enrolments, rejections,
consent changes and erasures out. The one service that sees clear identities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.intake.handlers import IntakeHandlers
from services.intake.identity import IdentityVault
from services.intake.store import IntakeStore
from shared.contracts import topics
from shared.contracts.intake import (
    ConsentChanged,
    ParticipantEnrolled,
    ParticipantErased,
    ReferralRejected,
    ReferralRejectedV2,
    SpecialCategoriesRecorded,
)
from shared.contracts.municipal import (
    ConsentRecorded,
    ErasureRequested,
    ProgrammeDefined,
    ReferralReceived,
)
from shared.contracts.outcomes import OutcomeRecorded
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.contracts.scoped import ResidentEvent
from shared.messaging.consumer import Subscription
from shared.messaging.service import ServiceRuntime
from shared.reference import municipalities
from shared.settings import Settings

NAME = "intake"


def create(settings: Settings, *, configure_logs: bool = True) -> ServiceRuntime:
    if settings.pseudonym_key is None:
        raise SystemExit("INSATS_PSEUDONYM_KEY must be set: it keys the participants' pseudonyms")
    if settings.identity_master_key is None:
        raise SystemExit("INSATS_IDENTITY_MASTER_KEY must be set: it wraps the person keys")
    runtime = ServiceRuntime(NAME, settings, configure_logs=configure_logs)
    store = IntakeStore(runtime.db)
    handlers = IntakeHandlers(
        store,
        settings.pseudonym_key.get_secret_value().encode(),
        IdentityVault(bytes.fromhex(settings.identity_master_key.get_secret_value())),
        frozenset(municipalities()),
    )
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
            name="referrals",
            topic=topics.MUNICIPAL_REFERRALS,
            accepts=frozenset({ReferralReceived.TYPE, ConsentRecorded.TYPE, ErasureRequested.TYPE}),
            handler=handlers.on_inbound,
            on_unreadable=handlers.on_unreadable_referral,
        )
    )
    for name, topic, types in (
        (
            "placement-activity",
            topics.PLACEMENT_EVENTS,
            {PlacementStarted.TYPE, PlacementEnded.TYPE},
        ),
        ("outcome-activity", topics.OUTCOMES_EVENTS, {OutcomeRecorded.TYPE}),
    ):
        runtime.subscribe(
            Subscription(
                name=name, topic=topic, accepts=frozenset(types), handler=handlers.on_activity
            )
        )
    # Clear identities cross the broker on the referral topic, and in intake's dead letters of
    # it: keep both no longer than needed.
    short_retention = {"retention.ms": str(settings.referral_retention_hours * 3_600_000)}
    runtime.topic_config(topics.MUNICIPAL_REFERRALS, short_retention)
    runtime.topic_config(topics.dead_letter_topic(NAME), short_retention)
    if settings.retention_days is not None:
        retention = timedelta(days=settings.retention_days)
        dead_letters = settings.topic(topics.dead_letter_topic(NAME))

        async def erase_idle_participants() -> None:
            if await handlers.erase_idle(runtime.db, datetime.now(UTC) - retention, dead_letters):
                runtime.relay.wake()

        runtime.every(settings.retention_check_seconds, erase_idle_participants)
    runtime.publishes(
        ParticipantEnrolled,
        ReferralRejected,
        ReferralRejectedV2,
        ConsentChanged,
        ParticipantErased,
        SpecialCategoriesRecorded,
        ResidentEvent,
    )
    return runtime
