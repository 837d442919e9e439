"""`insats outbox parked` and `insats outbox requeue`: the records a service's relay could not
publish (shared/messaging/relay.py), and putting them back once the cause is fixed."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from bson import ObjectId
from bson.errors import InvalidId
from rich.console import Console
from rich.table import Table

from shared.messaging.relay import requeue
from shared.persistence import ServiceDatabase, mongo_client
from shared.services import SERVICES
from shared.settings import Settings

outbox_app = typer.Typer(help="Records the outbox relay parked because it could not send them.")
console = Console()


async def _parked(settings: Settings, services: tuple[str, ...]) -> list[tuple[str, Any]]:
    client = mongo_client(settings)
    try:
        found = []
        for service in services:
            db = ServiceDatabase(client, settings, service)
            # Never the value: a parked dead letter of a referral holds a clear personnummer.
            projection = {"topic": 1, "reason": 1, "detail": 1, "parked_at": 1}
            async for doc in db.parked.find({}, projection).sort("_id", 1):
                found.append((service, doc))
        return found
    finally:
        await client.close()


@outbox_app.command("parked")
def parked(
    service: Annotated[str | None, typer.Option(help="Only this service's records.")] = None,
) -> None:
    """List parked records: where each was going and why it could not go (never its value)."""
    services = (service,) if service else SERVICES
    table = Table("service", "id", "topic", "reason", "detail", "parked at")
    rows = asyncio.run(_parked(Settings(), services))
    for name, doc in rows:
        table.add_row(
            name,
            str(doc["_id"]),
            doc.get("topic", ""),
            doc.get("reason", ""),
            doc.get("detail", ""),
            str(doc.get("parked_at", "")),
        )
    console.print(table)
    console.print(f"{len(rows)} parked")


@outbox_app.command("requeue")
def requeue_parked(
    service: Annotated[str, typer.Argument(help="intake, placement or outcomes")],
    ids: Annotated[list[str] | None, typer.Argument(help="ids as `parked` shows them")] = None,
    reason: Annotated[str | None, typer.Option(help="All parked for this reason.")] = None,
) -> None:
    """Put parked records back into the outbox, in their first order, after fixing the cause
    (a topic created, an ACL granted, the broker's size limit raised)."""
    if service not in SERVICES:
        raise typer.BadParameter(f"choose one of {', '.join(SERVICES)}")
    if not ids and reason is None:
        raise typer.BadParameter("give ids or --reason")
    query: dict[str, Any] = {}
    if reason is not None:
        query["reason"] = reason
    if ids:
        try:
            query["_id"] = {"$in": [ObjectId(i) for i in ids]}
        except InvalidId as problem:
            raise typer.BadParameter(str(problem)) from None

    async def run() -> int:
        settings = Settings()
        client = mongo_client(settings)
        try:
            return await requeue(ServiceDatabase(client, settings, service), query)
        finally:
            await client.close()

    console.print(f"{asyncio.run(run())} record(s) back in {service}'s outbox")
