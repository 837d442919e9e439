"""Programme reports from the outcomes read model, for the CLI, the demo and the dashboard."""

from __future__ import annotations

from services.outcomes.domain import ProgrammeReport, programme_report
from services.outcomes.store import OutcomesStore


async def programme_reports(store: OutcomesStore) -> list[ProgrammeReport]:
    reports = []
    for programme in await store.programme_definitions():
        journeys = await store.journeys_of(programme.programme_id)
        rejected = await store.rejected_referrals(programme.programme_id)
        reports.append(programme_report(programme, journeys, rejected))
    return reports
