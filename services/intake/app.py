"""The intake service: referrals, consents and erasure requests in; enrolments, rejections,
consent changes and erasures out. The one service that sees clear identities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.intake import identity_endpoint
from services.intake.handlers import IntakeHandlers
from services.intake.identity import IdentityVault
from services.intake.key_store import check_keyring
from services.intake.store import IntakeStore
from shared.audience import pseudonyms_of
from shared.contracts import topics
from shared.contracts.answers import InputRejected
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
    AllocationRoundRequested,
    ConsentRecorded,
    CostReported,
    ErasureRequested,
    IdentityLinkRecorded,
    ParticipationExitRecorded,
    PlanRecorded,
    ProgrammeDefined,
    ProtectedIdentityRecorded,
    ReferralReceived,
    ResidenceChangeRecorded,
)
from shared.contracts.outcomes import OutcomeRecorded
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.contracts.registry import types_on
from shared.contracts.scoped import ResidentEvent
from shared.contracts.tenants import Channel
from shared.key_custody import parse_keyring
from shared.messaging.consumer import Subscription
from shared.messaging.kafka import short_retention
from shared.messaging.service import ServiceRuntime
from shared.outbox_seal import OutboxSeal
from shared.reference import municipalities
from shared.settings import Settings

NAME = "intake"
_DAY_MS = 24 * 3_600_000
SPECIAL_CATEGORIES_RETENTION_MS = 7 * _DAY_MS


def create(settings: Settings, *, configure_logs: bool = True) -> ServiceRuntime:
    if settings.pseudonym_key is None:
        raise SystemExit("INSATS_PSEUDONYM_KEY must be set: it keys the participants' pseudonyms")
    if settings.identity_master_key is None:
        raise SystemExit("INSATS_IDENTITY_MASTER_KEY must be set: it wraps the person keys")
    runtime = ServiceRuntime(NAME, settings, configure_logs=configure_logs)
    try:
        master = parse_keyring(settings.identity_master_key.get_secret_value())
    except ValueError as problem:
        raise SystemExit(f"INSATS_IDENTITY_MASTER_KEY: {problem}") from None
    # Dead letters of referrals hold clear personnummer: sealed while they wait in the outbox.
    runtime.db.outbox_seal = OutboxSeal(master, {settings.topic(topics.dead_letter_topic(NAME))})
    store = IntakeStore(runtime.db, master)
    handlers = IntakeHandlers(
        store,
        settings.pseudonym_key.get_secret_value().encode(),
        IdentityVault(master),
        frozenset(municipalities()),
        referral_max_age=timedelta(days=settings.referral_max_age_days),
        erasure_hold=timedelta(hours=settings.referral_retention_hours),
        today=settings.today,
    )
    runtime.on_start(store.ensure_indexes)
    if settings.identity_read_secret is not None:
        runtime.route(
            identity_endpoint.PATH,
            identity_endpoint.IdentityReadEndpoint(
                store,
                IdentityVault(master),
                pseudonyms_of(settings),
                settings.identity_read_secret.get_secret_value(),
            ),
        )
    runtime.on_start(lambda: check_keyring(store.keys, master, datetime.now(UTC)))
    runtime.subscribe(
        Subscription(
            name="programmes",
            channel=Channel.PROGRAMMES,
            # Round requests and cost reports share the channel; intake passes over them.
            accepts=frozenset(
                {ProgrammeDefined.TYPE, AllocationRoundRequested.TYPE, CostReported.TYPE}
            ),
            handler=handlers.on_programmes,
        )
    )
    runtime.subscribe(
        Subscription(
            name="agreements",
            channel=Channel.PARTNERS,
            # Only agreements' conditions matter here; the handler passes over partners, their
            # vetting and contributions (placement owns the channel and answers on it).
            accepts=types_on(Channel.PARTNERS),
            handler=handlers.on_agreements,
        )
    )
    runtime.subscribe(
        Subscription(
            name="referrals",
            channel=Channel.REFERRALS,
            accepts=frozenset(
                {
                    ReferralReceived.TYPE,
                    ConsentRecorded.TYPE,
                    ErasureRequested.TYPE,
                    ProtectedIdentityRecorded.TYPE,
                    ParticipationExitRecorded.TYPE,
                    PlanRecorded.TYPE,
                    IdentityLinkRecorded.TYPE,
                    ResidenceChangeRecorded.TYPE,
                }
            ),
            handler=handlers.on_inbound,
            on_unreadable=handlers.on_unreadable_referral,
            answers=True,
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
    # Clear identities cross the broker on the referral topics, and in intake's dead letters of
    # them: keep both no longer than needed (the referral topics are configured so by
    # inbound_topic_config wherever they are created).
    runtime.topic_config(
        topics.dead_letter_topic(NAME),
        short_retention(settings.referral_retention_hours * 3_600_000),
    )
    # Special categories: a week, in daily segments (deploy/k8s/base/kafka/topics.yaml alike).
    runtime.topic_config(
        topics.INTAKE_SPECIAL_CATEGORIES,
        {"retention.ms": str(SPECIAL_CATEGORIES_RETENTION_MS), "segment.ms": str(_DAY_MS)},
    )
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
        ProtectedIdentityChanged,
        ParticipantErased,
        ParticipationExited,
        PlanAdopted,
        IdentityLinked,
        ParticipantMoved,
        ParticipantHandedOver,
        ParticipantsMerged,
        SpecialCategoriesRecorded,
        EligibilityDecided,
        ResidentEvent,
        InputRejected,
    )
    return runtime
