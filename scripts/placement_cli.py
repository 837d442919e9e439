"""`insats placement queue`: a programme's waiting list in the order it will be served, as
placement ranks it (the programme's priority rule, then referral date, then enrolment), with
pseudonymous ids only."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.placement.domain import WaitingEntry, priority_class
from services.placement.store import PlacementStore
from shared.contracts.municipal import AllocationMode, PriorityRule, ProgrammeDefined
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings

placement_app = typer.Typer(help="Placement's waiting lists.")
console = Console()


async def serving_order(
    settings: Settings, programme_id: str, limit: int
) -> tuple[ProgrammeDefined | None, list[WaitingEntry]]:
    client = mongo_client(settings)
    try:
        store = PlacementStore(ServiceDatabase(client, settings, "placement"))
        books = await store.load_books([programme_id], 0, None)
        return books[programme_id].definition, await store.queue_in_order(programme_id, limit)
    finally:
        await client.close()


@placement_app.command("queue")
def queue(
    programme_id: Annotated[str, typer.Argument(help="The programme's id")],
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 100,
) -> None:
    """The waiting list in serving order: who is offered the next free place, and why."""
    settings = Settings()
    definition, waiting = asyncio.run(serving_order(settings, programme_id, limit))
    if definition is None:
        raise typer.BadParameter(f"no programme {programme_id}")
    rule = definition.priority
    today = settings.business_today()
    table = Table(
        "place in line",
        "participant",
        "class",
        "referred",
        "days waiting",
        "plan step",
        title=f"{programme_id}: the queue by {rule.value}"
        + (
            ", income-support recipients first" if rule is PriorityRule.INCOME_SUPPORT_FIRST else ""
        ),
    )
    for position, entry in enumerate(waiting, start=1):
        table.add_row(
            str(position),
            entry.participant_id,
            priority_class(entry, rule),
            entry.referral_date.isoformat(),
            str(max(0, (today - entry.referral_date).days)),
            entry.plan_step_id or "",
        )
    console.print(table)
    allocation = definition.allocation
    if allocation.mode is not AllocationMode.ROUNDS:
        when = f"at once (after {allocation.settle_seconds} s without a new enrolment)"
    elif allocation.weekdays:
        days = ", ".join(day.value for day in allocation.weekdays)
        when = f"in rounds on {days} at {allocation.at}, and when the owner asks for one"
    else:
        when = "in rounds, when the owner asks for one"
    console.print(f"{waiting_count(waiting)}; places are offered {when}.")
    if definition.reserved is not None:
        held = definition.reserved
        console.print(
            f"{held.places} places are held for {held.group.value} for {held.days} days "
            "before they open to everyone."
        )


def waiting_count(waiting: Sequence[WaitingEntry]) -> str:
    """People waiting, and the places they wait for where that differs: a participant whose plan
    has placement steps side by side stands in line once per step."""
    people = len({entry.participant_id for entry in waiting})
    places = f" for {len(waiting)} places" if len(waiting) != people else ""
    return f"{people} waiting{places}"
