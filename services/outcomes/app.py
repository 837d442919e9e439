"""The outcomes service: journeys, follow-ups and their answers, indicators against programme
goals, and the dashboard."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

from faststream.asgi import AsgiResponse, get
from faststream.asgi.types import Scope

from services.outcomes.dashboard import index_page, programme_page
from services.outcomes.export import zipped_export
from services.outcomes.handlers import FollowUpAnnouncer, OutcomesHandlers
from services.outcomes.reports import programme_overviews
from services.outcomes.settings import OutcomesSettings
from services.outcomes.store import OutcomesStore
from shared.business_day import Clock
from shared.contracts import topics
from shared.contracts.answers import InputRejected
from shared.contracts.intake import (
    ConsentChanged,
    ParticipantEnrolled,
    ParticipantErased,
    ParticipantMoved,
    ParticipantsMerged,
    ParticipationExited,
    PlanAdopted,
    ReferralRejected,
    SpecialCategoriesRecorded,
)
from shared.contracts.outcomes import FollowUpDue, OutcomeRecorded
from shared.contracts.placement import (
    PlacementChanged,
    PlacementEnded,
    PlacementStarted,
    SupportTaskOpened,
)
from shared.contracts.registry import types_on
from shared.contracts.scoped import ResidentEvent
from shared.contracts.tenants import Channel
from shared.messaging.consumer import Subscription
from shared.messaging.service import ServiceRuntime
from shared.settings import Settings

NAME = "outcomes"
_HTML = {"Content-Type": "text/html; charset=utf-8"}


def subscriptions(handlers: OutcomesHandlers) -> list[Subscription]:
    """What outcomes reads; a rebuild replays exactly these."""
    return [
        Subscription(
            name="programmes",
            channel=Channel.PROGRAMMES,
            accepts=types_on(Channel.PROGRAMMES),
            handler=handlers.on_programmes,
        ),
        Subscription(
            name="partners",
            channel=Channel.PARTNERS,
            accepts=types_on(Channel.PARTNERS),
            handler=handlers.on_partners,
        ),
        Subscription(
            name="intake-events",
            topic=topics.INTAKE_EVENTS,
            accepts=frozenset(
                {
                    ParticipantEnrolled.TYPE,
                    ReferralRejected.TYPE,
                    ConsentChanged.TYPE,
                    ParticipantErased.TYPE,
                    ParticipationExited.TYPE,
                    ParticipantMoved.TYPE,
                    ParticipantsMerged.TYPE,
                    PlanAdopted.TYPE,
                }
            ),
            handler=handlers.on_intake,
        ),
        Subscription(
            name="special-categories",
            topic=topics.INTAKE_SPECIAL_CATEGORIES,
            accepts=frozenset({SpecialCategoriesRecorded.TYPE}),
            handler=handlers.on_special_categories,
        ),
        Subscription(
            name="placement-events",
            topic=topics.PLACEMENT_EVENTS,
            accepts=frozenset(
                {
                    PlacementStarted.TYPE,
                    PlacementChanged.TYPE,
                    PlacementEnded.TYPE,
                    SupportTaskOpened.TYPE,
                }
            ),
            handler=handlers.on_placements,
        ),
        Subscription(
            name="outcome-reports",
            channel=Channel.OUTCOME_REPORTS,
            accepts=types_on(Channel.OUTCOME_REPORTS),
            handler=handlers.on_outcome_reports,
            answers=True,
        ),
    ]


def create(
    settings: Settings,
    *,
    configure_logs: bool = True,
    outcomes_settings: OutcomesSettings | None = None,
    clock: Clock | None = None,
) -> ServiceRuntime:
    own = outcomes_settings or OutcomesSettings()
    today = clock or settings.business_today
    runtime = ServiceRuntime(NAME, settings, configure_logs=configure_logs)
    store = OutcomesStore(
        runtime.db,
        erasure_mark_days=own.erasure_mark_days,
        reissue_redirect_days=own.reissue_redirect_days,
    )
    handlers = OutcomesHandlers(store)
    runtime.on_start(store.ensure_indexes)
    for subscription in subscriptions(handlers):
        runtime.subscribe(subscription)
    runtime.publishes(OutcomeRecorded, FollowUpDue, ResidentEvent, InputRejected)
    announcer = FollowUpAnnouncer(
        runtime.db,
        store,
        today,
        batch=own.follow_up_batch,
        on_committed=runtime.relay.wake,
    )
    runtime.every(own.follow_up_check_seconds, announcer.announce_due)

    @get(include_in_schema=False)
    async def dashboard(scope: Scope) -> AsgiResponse:
        query = parse_qs(scope.get("query_string", b"").decode())
        wanted = query.get("programme", [])
        views = await programme_overviews(store, today(), programme_ids=wanted or None)
        if not wanted:
            return AsgiResponse(index_page(views).encode(), 200, _HTML)
        if not views:
            return AsgiResponse(b"no such programme", 404)
        return AsgiResponse(programme_page(views[0]).encode(), 200, _HTML)

    @get(include_in_schema=False)
    async def funder_files(scope: Scope) -> AsgiResponse:
        """The programme's funder files from the read model, as one zip: what `insats report
        export --from-read-model` writes (without provenance). Reached only from inside the
        deployment; the portal is its door for the programme's owner."""
        wanted = parse_qs(scope.get("query_string", b"").decode()).get("programme", [])
        if len(wanted) != 1:
            return AsgiResponse(b"name one programme", 400)
        views = await programme_overviews(store, today(), programme_ids=wanted)
        if not views:
            return AsgiResponse(b"no such programme", 404)
        archive = await asyncio.to_thread(zipped_export, views[0])
        return AsgiResponse(archive, 200, {"Content-Type": "application/zip"})

    runtime.route("/dashboard", dashboard)
    runtime.route("/funder-files", funder_files)
    return runtime
