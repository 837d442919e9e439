"""`insats`: run the services, the local stack, the demo, reports and dead-letter tools."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scripts.render import report_table
from scripts.stack import Stack
from shared.settings import Settings

app = typer.Typer(help="Insats: labour-market programmes, event-driven.", no_args_is_help=True)
stack_app = typer.Typer(help="The local broker and database (no Docker needed).")
dlq_app = typer.Typer(help="Inspect and replay dead letters.")
app.add_typer(stack_app, name="stack")
app.add_typer(dlq_app, name="dlq")
# Wide enough for the report tables when output goes to a file or CI log rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 120)

SERVICES = ("intake", "placement", "outcomes")


@stack_app.command("up")
def stack_up() -> None:
    """Install what is missing, start Kafka and the MongoDB-protocol server, wait until ready."""
    stack = Stack()
    with console.status("Starting the local stack (first run installs Kafka and SecantusDB)..."):
        stack.up()
    for key, value in stack.environment().items():
        console.print(f"export {key}={value}")


@stack_app.command("down")
def stack_down() -> None:
    """Stop the processes `stack up` started, and nothing else."""
    stopped = Stack().down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing of ours was running'}")


@stack_app.command("status")
def stack_status() -> None:
    table = Table("component", "started by us", "answers", "pid", "log")
    for item in Stack().status():
        table.add_row(item.name, str(item.ours), str(item.answers), str(item.pid or "-"), item.log)
    console.print(table)


@app.command("run")
def run(service: Annotated[str, typer.Argument(help="intake, placement or outcomes")]) -> None:
    """Run one service in the foreground until SIGTERM (what a container runs)."""
    if service not in SERVICES:
        raise typer.BadParameter(f"choose one of {', '.join(SERVICES)}")
    module = importlib.import_module(f"services.{service}.app")
    runtime = module.create(Settings())
    asyncio.run(runtime.serve())


@app.command("report")
def report() -> None:
    """Print each programme's indicators against its goals, from the outcomes read model."""
    from services.outcomes.reports import programme_reports
    from services.outcomes.store import OutcomesStore
    from shared.persistence import ServiceDatabase, mongo_client

    async def load() -> list[object]:
        settings = Settings()
        client = mongo_client(settings)
        try:
            return list(
                await programme_reports(
                    OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
                )
            )
        finally:
            await client.close()

    console.print(report_table(asyncio.run(load())))  # type: ignore[arg-type]


@app.command("demo")
def demo(
    participants: Annotated[int, typer.Option(help="Synthetic referrals to publish.")] = 320,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic scenario.")] = 2026,
) -> None:
    """The whole platform on the local stack with the seed documents' programmes."""
    from scripts.demo.runner import run_demo

    raise typer.Exit(asyncio.run(run_demo(console, participants=participants, seed=seed)))


@dlq_app.command("list")
def dlq_list(
    service: Annotated[str | None, typer.Option(help="Only this service's dead letters.")] = None,
) -> None:
    from shared.messaging.dlq_admin import read_dead_letters

    letters = asyncio.run(read_dead_letters(Settings(), [service] if service else SERVICES))
    table = Table("topic", "id", "code", "attempts", "original topic", "reason")
    for letter in letters:
        table.add_row(
            letter.dlq_topic,
            letter.id,
            letter.code,
            str(letter.attempts),
            letter.original_topic,
            letter.reason[:80],
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@dlq_app.command("show")
def dlq_show(
    service: Annotated[str, typer.Argument(help="intake, placement or outcomes")],
    letter_id: Annotated[str, typer.Argument(help="partition:offset, as `dlq list` shows")],
) -> None:
    from shared.messaging.dlq_admin import read_dead_letters

    letters = asyncio.run(read_dead_letters(Settings(), [service]))
    letter = next((item for item in letters if item.id == letter_id), None)
    if letter is None:
        raise typer.BadParameter(f"no dead letter {letter_id} for {service}")
    for name, value in letter.headers:
        console.print(f"[bold]{name}[/]: {value.decode(errors='replace')}")
    console.print(f"[bold]key[/]: {letter.key!r}")
    # The payload may hold personal data (an intake dead letter holds a clear personnummer):
    # shown to the operator who asked, never logged.
    console.print(letter.value.decode(errors="replace"), markup=False)


@dlq_app.command("replay")
def dlq_replay(
    service: Annotated[str, typer.Argument(help="intake, placement or outcomes")],
    letter_ids: Annotated[list[str] | None, typer.Argument(help="partition:offset ids")] = None,
    all_letters: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    code: Annotated[str | None, typer.Option(help="Only letters with this code.")] = None,
) -> None:
    """Publish dead letters back to their original topic, unchanged, after a fix."""
    from shared.messaging.dlq_admin import read_dead_letters, replay

    settings = Settings()
    letters = asyncio.run(read_dead_letters(settings, [service]))
    chosen = [
        letter
        for letter in letters
        if (all_letters or letter.id in (letter_ids or []))
        and (code is None or letter.code == code)
    ]
    if not chosen:
        raise typer.BadParameter("nothing to replay: name ids, or --all")
    count = asyncio.run(replay(settings, chosen))
    console.print(f"replayed {count} dead letter(s)")


def main() -> None:
    app()
