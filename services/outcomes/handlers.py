"""Outcomes' use cases: fold the other services' events into journeys; record follow-ups."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from services.outcomes import store as read_model
from services.outcomes.domain import in_sysselsattning
from services.outcomes.store import OutcomesStore
from shared.contracts.envelope import new_event
from shared.contracts.intake import ParticipantEnrolled, ReferralRejected
from shared.contracts.municipal import OutcomeReported, ProgrammeDefined
from shared.contracts.outcomes import OutcomeRecorded
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.messaging.consumer import HandlerContext
from shared.messaging.records import Received

SOURCE = "/insats/outcomes"


class OutcomesHandlers:
    def __init__(self, store: OutcomesStore) -> None:
        self.store = store

    async def on_programmes(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        latest: dict[str, ProgrammeDefined] = {}
        for item in batch:
            latest[item.event.data.programme_id] = item.event.data
        await self.store.save_programmes(latest.values(), ctx.session)

    async def on_intake(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        operations = []
        rejected: Counter[str] = Counter()
        for item in batch:
            data = item.event.data
            if isinstance(data, ParticipantEnrolled):
                operations.append(read_model.enrolled_update(data))
            elif isinstance(data, ReferralRejected):
                rejected[data.programme_id or "(unknown)"] += 1
        await self.store.apply(operations, ctx.session)
        await self.store.count_rejections(dict(rejected), ctx.session)

    async def on_placements(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        operations = []
        for item in batch:
            data = item.event.data
            if isinstance(data, PlacementStarted):
                operations.append(read_model.placement_started_update(data))
            elif isinstance(data, PlacementEnded):
                operations.append(read_model.placement_ended_update(data))
        await self.store.apply(operations, ctx.session)

    async def on_outcome_reports(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        recorded = []
        for item in batch:
            report: OutcomeReported = item.event.data
            outcome = OutcomeRecorded(
                outcome_id=report.report_id,
                participant_id=report.participant_id,
                programme_id=report.programme_id,
                municipality=report.municipality,
                follow_up=report.follow_up,
                status=report.status,
                in_sysselsattning=in_sysselsattning(report.status),
                income_support=report.income_support,
                source=report.source,
                observed_on=report.observed_on,
            )
            recorded.append(outcome)
            ctx.emit(
                new_event(
                    outcome, source=SOURCE, municipality=report.municipality, cause=item.event
                )
            )
        await self.store.save_outcomes(recorded, ctx.session)
        await self.store.apply([read_model.outcome_update(o) for o in recorded], ctx.session)
