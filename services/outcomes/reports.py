"""Programme reports from the outcomes read model, for the CLI, the demo and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from services.outcomes.indicators import Indicator
from services.outcomes.overview import ProgrammeOverview, overview
from services.outcomes.store import OutcomesStore


async def programme_overviews(
    store: OutcomesStore,
    as_of: date,
    *,
    programme_ids: Sequence[str] | None = None,
    period: tuple[date, date] | None = None,
    definitions: Sequence[Indicator] | None = None,
) -> list[ProgrammeOverview]:
    """Each programme's indicators, funnel, follow-ups and partner evaluations as of a day."""
    partners = await store.partner_directory()
    agreements = await store.agreement_list()
    overviews = []
    for programme in await store.programme_definitions():
        if programme_ids and programme.programme_id not in programme_ids:
            continue
        overviews.append(
            overview(
                programme,
                await store.journeys_of(programme.programme_id),
                rejected=await store.rejected_referrals(programme.programme_id),
                follow_ups=await store.follow_ups_of(programme.programme_id),
                partners=partners,
                agreements=agreements,
                as_of=as_of,
                period=period,
                definitions=definitions,
                costs=await store.costs_of(programme.programme_id),
                deliveries=await store.deliveries_of(programme.programme_id),
            )
        )
    return overviews
