"""The intake service: referrals in, enrolments and rejections out."""

from __future__ import annotations

from services.intake.handlers import IntakeHandlers
from services.intake.store import IntakeStore
from shared.contracts import topics
from shared.contracts.intake import ParticipantEnrolled, ReferralRejected
from shared.contracts.municipal import ProgrammeDefined, ReferralReceived
from shared.messaging.consumer import Subscription
from shared.messaging.service import ServiceRuntime
from shared.reference import municipalities
from shared.settings import Settings

NAME = "intake"


def create(settings: Settings, *, configure_logs: bool = True) -> ServiceRuntime:
    if settings.pseudonym_key is None:
        raise SystemExit("INSATS_PSEUDONYM_KEY must be set: it keys the participants' pseudonyms")
    runtime = ServiceRuntime(NAME, settings, configure_logs=configure_logs)
    store = IntakeStore(runtime.db)
    handlers = IntakeHandlers(
        store, settings.pseudonym_key.get_secret_value().encode(), frozenset(municipalities())
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
            accepts=frozenset({ReferralReceived.TYPE}),
            handler=handlers.on_referrals,
            on_unreadable=handlers.on_unreadable_referral,
        )
    )
    # Clear identities cross the broker only here: keep them no longer than needed.
    runtime.topic_config(
        topics.MUNICIPAL_REFERRALS,
        {"retention.ms": str(settings.referral_retention_hours * 3_600_000)},
    )
    runtime.publishes(ParticipantEnrolled, ReferralRejected)
    return runtime
