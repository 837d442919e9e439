"""`insats`: run the services, the local stack, the demo, reports and dead-letter tools."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from scripts.stack import Stack
from services.outcomes.indicators import Dimension
from shared.services import SERVICES, service_app
from shared.settings import Settings

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient

    from services.intake.identity import IdentityRecord, IdentityVault
    from services.intake.store import IntakeStore
    from services.outcomes.overview import ProgrammeOverview
    from shared.messaging.dead_letters import DeadLetter
    from shared.persistence import Document

app = typer.Typer(help="Insats: labour-market programmes, event-driven.", no_args_is_help=True)
stack_app = typer.Typer(help="The local broker and database (no Docker needed).")
dlq_app = typer.Typer(help="Inspect and replay dead letters.")
app.add_typer(stack_app, name="stack")
app.add_typer(dlq_app, name="dlq")
app.add_typer(importlib.import_module("scripts.outbox_cli").outbox_app, name="outbox")
app.add_typer(importlib.import_module("scripts.placement_cli").placement_app, name="placement")
app.add_typer(importlib.import_module("scripts.contract.cli").contract_app, name="contract")
_onboarding = importlib.import_module("scripts.onboarding_cli")
app.add_typer(_onboarding.partner_app, name="partner")
app.add_typer(_onboarding.municipality_app, name="municipality")
app.add_typer(_onboarding.owner_app, name="owner")
app.add_typer(importlib.import_module("scripts.deploy_tenant").tenant_app, name="tenant")
app.add_typer(
    importlib.import_module("scripts.identity_provider_cli").identity_provider_app,
    name="identity-provider",
)
# Wide enough for the report tables when output goes to a file or CI log rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 120)


@stack_app.command("up")
def stack_up() -> None:
    """Install what is missing, start Kafka and the MongoDB-protocol server, wait until ready."""
    stack = Stack()
    with console.status("Starting the local stack (first run installs Kafka and SecantusDB)..."):
        stack.up()
    for note in stack.mongo.notes:
        console.print(f"[bold red]{note}[/]")
    console.print(f"database server: {stack.mongo.server_name}")
    for key, value in stack.environment().items():
        console.print(f"export {key}={value}")


@stack_app.command("install")
def stack_install() -> None:
    """Install Kafka and build the database server, without starting them. `make test` runs it
    before pytest, so the first build (minutes, once) is never charged to a test's time limit."""
    stack = Stack()
    stack.install()
    for note in stack.mongo.notes:
        console.print(f"[bold red]{note}[/]")
    console.print(f"database server: {stack.mongo.server_name}")


@stack_app.command("down")
def stack_down() -> None:
    """Stop the processes `stack up` started, and nothing else."""
    stopped = Stack().down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing of ours was running'}")


@stack_app.command("status")
def stack_status() -> None:
    table = Table("component", "server", "started by us", "answers", "pid", "log")
    for item in Stack().status():
        table.add_row(
            item.name,
            item.server,
            str(item.ours),
            str(item.answers),
            str(item.pid or "-"),
            item.log,
        )
    console.print(table)


@app.command("run")
def run(service: Annotated[str, typer.Argument(help="intake, placement or outcomes")]) -> None:
    """Run one service in the foreground until SIGTERM (what a container runs)."""
    if service not in SERVICES:
        raise typer.BadParameter(f"choose one of {', '.join(SERVICES)}")
    module = service_app(service)
    runtime = module.create(Settings())
    asyncio.run(runtime.serve())


@app.command("gateway")
def run_gateway() -> None:
    """Run the HTTP gateway in the foreground until SIGTERM (INSATS_OIDC_ISSUER names the
    identity provider whose tokens it accepts)."""
    from services.gateway.main import serve

    serve()


report_app = typer.Typer(
    help="Programmes' indicators against their goals (from the outcomes read model), the "
    "funder export and the dashboard pages.",
    invoke_without_command=True,
)
app.add_typer(report_app, name="report")
outcomes_app = typer.Typer(help="The outcomes service's read models.")
app.add_typer(outcomes_app, name="outcomes")

ProgrammeOption = Annotated[
    list[str] | None, typer.Option("--programme", "-p", help="Only this programme (repeatable).")
]
AsOfOption = Annotated[
    str | None,
    typer.Option(help="The day the figures are for, YYYY-MM-DD; today (or INSATS_TODAY)."),
]
FromOption = Annotated[
    str | None, typer.Option("--from", help="Period start, YYYY-MM-DD; the programme's own.")
]
ToOption = Annotated[str | None, typer.Option("--to", help="Period end, YYYY-MM-DD (with --from).")]


def _as_of(value: str | None) -> date:
    return date.fromisoformat(value) if value else Settings().business_today()


def _period(start: str | None, end: str | None) -> tuple[date, date] | None:
    if (start is None) != (end is None):
        raise typer.BadParameter("give both --from and --to, or neither")
    return (date.fromisoformat(start), date.fromisoformat(end)) if start and end else None


def _overviews(
    programmes: list[str] | None,
    as_of: date,
    period: tuple[date, date] | None = None,
    indicators: list[str] | None = None,
) -> list[ProgrammeOverview]:
    from services.outcomes.indicators import lookup
    from services.outcomes.reports import programme_overviews
    from services.outcomes.store import OutcomesStore
    from shared.persistence import ServiceDatabase, mongo_client

    try:
        definitions = [lookup(name) for name in indicators] if indicators else None
    except KeyError as error:
        raise typer.BadParameter(str(error)) from None

    async def load() -> list[ProgrammeOverview]:
        settings = Settings()
        client = mongo_client(settings)
        try:
            store = OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
            return await programme_overviews(
                store, as_of, programme_ids=programmes, period=period, definitions=definitions
            )
        finally:
            await client.close()

    views = asyncio.run(load())
    if programmes and not views:
        raise typer.BadParameter(f"no programme {', '.join(programmes)} in the read model")
    return views


@report_app.callback()
def report(
    ctx: typer.Context,
    programme: ProgrammeOption = None,
    as_of: AsOfOption = None,
    period_from: FromOption = None,
    period_to: ToOption = None,
    indicator: Annotated[
        list[str] | None, typer.Option(help="Only these indicators: key, or key@version.")
    ] = None,
    by: Annotated[
        list[Dimension] | None, typer.Option(help="Also compare the groups of this dimension.")
    ] = None,
    overdue: Annotated[
        bool, typer.Option(help="List overdue follow-ups by participant (a work list).")
    ] = False,
) -> None:
    """Print each programme's indicators against its goals, its funnel and overdue follow-ups."""
    if ctx.invoked_subcommand is not None:
        return
    from scripts.render import programme_overview, programme_summary

    views = _overviews(programme, _as_of(as_of), _period(period_from, period_to), indicator)
    # Programmes are compared in the summary; the other dimensions within each programme.
    within = [d for d in by or () if d is not Dimension.PROGRAMME]
    console.print(programme_summary(views))
    for view in views:
        console.print(programme_overview(view, by=within, list_overdue=overdue))


@report_app.command("export")
def report_export(
    out: Annotated[Path, typer.Option(help="Folder to write to.")] = Path(".local/reports"),
    programme: ProgrammeOption = None,
    as_of: AsOfOption = None,
    period_from: FromOption = None,
    period_to: ToOption = None,
    known_on: Annotated[
        str | None,
        typer.Option(help="Only what was known by the end of this day, YYYY-MM-DD."),
    ] = None,
    kolada_year: Annotated[
        int | None,
        typer.Option(
            help="Also Kolada's resultat vid avslut for this year, per municipality across all "
            "programmes (people once) and per programme.",
            min=2000,
            max=2100,
        ),
    ] = None,
    scb_through: Annotated[
        str | None,
        typer.Option(
            help="Also SCB's monthly ESF files through this month, YYYY-MM (with --actor and "
            "--reason; as `insats report scb`)."
        ),
    ] = None,
    sus: Annotated[
        bool,
        typer.Option(
            "--sus",
            help="Also the SUS registrations for the period (with --actor and --reason; as "
            "`insats report sus`).",
        ),
    ] = False,
    actor: Annotated[
        str | None, typer.Option(help="For SCB and SUS: who reads identities (audited).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="For SCB and SUS: why identities are read (audited).")
    ] = None,
    from_read_model: Annotated[
        bool,
        typer.Option(
            "--from-read-model",
            help="From the live read models, without provenance (not verifiable); for a log "
            "that no longer holds all of the history.",
        ),
    ] = False,
) -> None:
    """Write the funder report (CSV and Excel) and the IOP evaluation per partner, computed from
    the event log, with <programme>-kalla.json saying from what (see `insats report verify`);
    with --kolada-year, --scb-through and --sus, every format the funders take."""
    if (scb_through or sus) and not (programme and len(programme) == 1 and actor and reason):
        raise typer.BadParameter("SCB and SUS files need one --programme, --actor and --reason")
    from services.outcomes.export import export_programme
    from services.outcomes.provenance import (
        HistoryIncomplete,
        ReportRequest,
        export_verifiable,
        known_until,
    )

    day, period = _as_of(as_of), _period(period_from, period_to)
    if from_read_model:
        if known_on:
            raise typer.BadParameter("--known-on needs the event log, not --from-read-model")
        for view in _overviews(programme, day, period):
            for path in export_programme(view, out):
                console.print(f"wrote {path}")
        if kolada_year is not None:
            console.print(f"wrote {asyncio.run(_kolada_from_read_model(kolada_year, day, out))}")
        return
    request = ReportRequest(
        as_of=day,
        programme_ids=programme,
        period=period,
        known_before=known_until(date.fromisoformat(known_on)) if known_on else None,
        kolada_year=kolada_year,
    )
    try:
        written = asyncio.run(export_verifiable(Settings(), out, request))
    except HistoryIncomplete as problem:
        console.print(
            f"[red]{problem}[/red]: give those topics retention.ms=-1, or export --from-read-model"
        )
        raise typer.Exit(1) from None
    if programme and not written:
        raise typer.BadParameter(f"no programme {', '.join(programme)} in the event log")
    for path in written:
        console.print(f"wrote {path}")
    if scb_through and programme and actor and reason:
        report_scb(programme[0], scb_through, actor, reason, out)
    if sus and programme and actor and reason:
        start, end = period or _programme_period(programme[0])
        report_sus(programme[0], start.isoformat(), end.isoformat(), actor, reason, out)


def _programme_period(programme_id: str) -> tuple[date, date]:
    [view] = _overviews([programme_id], Settings().business_today())
    return view.context.period_start, view.context.period_end


async def _kolada_from_read_model(year: int, as_of: date, out: Path) -> Path:
    from services.outcomes.export import export_kolada
    from services.outcomes.kolada import municipal_results
    from services.outcomes.store import OutcomesStore
    from shared.persistence import ServiceDatabase, mongo_client

    settings = Settings()
    client = mongo_client(settings)
    try:
        store = OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
        journeys = [
            journey
            for definition in await store.programme_definitions()
            for journey in await store.journeys_of(definition.programme_id)
        ]
    finally:
        await client.close()
    return await asyncio.to_thread(
        export_kolada, municipal_results(journeys, year, as_of), year, out
    )


@contextmanager
def _identified_report() -> Iterator[None]:
    """A report with identities is refused, with its reason, before anything is read or
    written: without an actor and a reason, or from a log that retention has cut."""
    from services.intake.identity_access import AccessRefused
    from services.outcomes.provenance import HistoryIncomplete

    try:
        yield
    except AccessRefused as refused:
        raise typer.BadParameter(str(refused)) from None
    except HistoryIncomplete as problem:
        console.print(f"[red]{problem}[/red]")
        raise typer.Exit(1) from None


@report_app.command("scb")
def report_scb(
    programme: Annotated[str, typer.Option("--programme", "-p", help="The ESF project.")],
    through: Annotated[str, typer.Option(help="The last month to report, YYYY-MM.")],
    actor: Annotated[str, typer.Option(help="Who sends the file: name and role (audited).")],
    reason: Annotated[str, typer.Option(help="Why identities are read (audited).")],
    out: Annotated[Path, typer.Option(help="Folder for the monthly files.")] = Path(
        ".local/reports/scb"
    ),
) -> None:
    """SCB's monthly ESF participant files: the months that are new or changed since the files
    already written to OUT, and every later month (a correction re-issues them all). The only
    files with a personnummer that Insats writes; identities are read from intake, audited."""
    from scripts.scb_files import write_scb_months

    with _identified_report():
        written, left_out = asyncio.run(
            write_scb_months(Settings(), programme, through, actor, reason, out)
        )
    if not written:
        console.print("nothing new or changed: no file to send")
    for path in written:
        console.print(f"wrote {path}")
    if written:
        console.print(f"send {len(written) - 1} file(s) to SCB, in month order")
    if left_out:
        console.print(f"{left_out} row(s) left out: the participant was erased")


@report_app.command("sus")
def report_sus(
    programme: Annotated[str, typer.Option("--programme", "-p", help="The insats.")],
    period_from: Annotated[str, typer.Option("--from", help="Period start, YYYY-MM-DD.")],
    period_to: Annotated[str, typer.Option("--to", help="Period end, YYYY-MM-DD.")],
    actor: Annotated[str, typer.Option(help="Who registers in SUS: name and role (audited).")],
    reason: Annotated[str, typer.Option(help="Why identities are read (audited).")],
    out: Annotated[Path, typer.Option(help="Folder to write to.")] = Path(".local/reports/sus"),
) -> None:
    """The programme's registrations in and out of SUS in the period: one row per enrolment,
    identified only where the participant consented to individual reporting and does not have
    protected identity, anonymous otherwise."""
    from scripts.sus_file import write_sus

    period = _period(period_from, period_to)
    assert period is not None
    with _identified_report():
        paths, named, anonymous = asyncio.run(
            write_sus(Settings(), programme, period, actor, reason, out)
        )
    for path in paths:
        console.print(f"wrote {path}")
    console.print(f"{named} identified, {anonymous} anonymous")


@report_app.command("verify")
def report_verify(
    manifest: Annotated[Path, typer.Argument(help="A <programme>-kalla.json written by export.")],
) -> None:
    """Recompute a report from the records its provenance names and say whether it matches:
    the files beside it unedited, and the same history giving the same files."""
    from services.outcomes.provenance import verify

    result = asyncio.run(verify(Settings(), manifest))
    if not result.manifest_intact:
        console.print("[red]the provenance file itself has been changed[/red]")
    for check in result.files:
        if check.identified:
            state = "holds identities: compared by what it says about the participants"
        elif check.on_disk is None:
            state = "[red]missing beside the provenance file[/red]"
        elif check.edited:
            state = "[red]edited since it was written[/red]"
        else:
            state = "unchanged"
        again = (
            "reproduced" if check.reproduced else "[red]NOT reproduced by the same records[/red]"
        )
        console.print(f"{check.name}: {state}, {again}")
    console.print("[green]verified[/green]" if result.ok else "[red]does not verify[/red]")
    if not result.ok:
        raise typer.Exit(1)


@report_app.command("dashboard")
def report_dashboard(
    out: Annotated[Path, typer.Option(help="Folder to write to.")] = Path(".local/dashboard"),
    programme: ProgrammeOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Write the dashboard's pages as self-contained HTML files (the service serves them live
    at /dashboard)."""
    from services.outcomes.dashboard import write_pages

    for path in write_pages(_overviews(programme, _as_of(as_of)), out):
        console.print(f"wrote {path}")


@outcomes_app.command("rebuild")
def outcomes_rebuild(
    swap: Annotated[
        bool, typer.Option("--swap", help="Then swap the rebuilt read models in (service stopped).")
    ] = False,
    as_of: AsOfOption = None,
    force: Annotated[bool, typer.Option(help="Swap even if the service seems to run.")] = False,
    in_database: Annotated[
        bool,
        typer.Option(
            "--in-database",
            help="Fold in the database instead of in memory: slower, for read models too large"
            " for this machine's memory.",
        ),
    ] = False,
) -> None:
    """Replay outcomes' input topics from the beginning into fresh read models, compare their
    indicators with the live ones, and optionally swap them in."""
    from services.outcomes import rebuild as rebuilding

    settings = Settings()
    result = asyncio.run(
        rebuilding.rebuild(
            settings,
            progress=lambda topic, n: console.print(f"replayed {n:>7} from {topic}"),
            in_memory=not in_database,
        )
    )
    console.print(
        f"rebuilt into {result.database} in {result.seconds:.2f} s;"
        f" {result.announced} follow-ups announced before"
    )
    console.print(
        "time: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.phases.items())
    )
    if result.dead_lettered:
        codes = ", ".join(f"{code} {n}" for code, n in sorted(result.dead_lettered.items()))
        console.print(
            f"[yellow]not applied, dead-lettered by the replay: {codes}[/] (bad input is again, as"
            " when first consumed; HANDLER_ERROR means the rebuild misses events: see the log)"
        )
    differences = asyncio.run(rebuilding.compare(settings, _as_of(as_of)))
    if not differences:
        console.print("[green]every indicator of the rebuilt read models equals the live one[/]")
    else:
        table = Table("programme", "indicator", "live", "rebuilt")
        for d in differences:
            table.add_row(d.programme_id, d.indicator, str(d.live), str(d.rebuilt))
        console.print(table)
    if swap:
        try:
            moved = asyncio.run(rebuilding.swap(settings, force=force))
        except rebuilding.ServiceStillRunning as error:
            raise typer.BadParameter(str(error)) from None
        console.print(f"swapped in: {', '.join(moved)}")


@app.command("demo")
def demo(
    participants: Annotated[int, typer.Option(help="Synthetic referrals to publish.")] = 320,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic scenario.")] = 2026,
    keep_running: Annotated[
        bool | None,
        typer.Option(
            help="Keep the platform and the portal running until Enter is pressed "
            "(by default when run in a terminal)."
        ),
    ] = None,
) -> None:
    """The whole platform on the local stack with the seed documents' programmes."""
    import sys

    from scripts.demo.runner import run_demo

    keep = sys.stdin.isatty() if keep_running is None else keep_running
    raise typer.Exit(
        asyncio.run(run_demo(console, participants=participants, seed=seed, keep_running=keep))
    )


identity_app = typer.Typer(help="Identity data in intake: read and export, always audited.")
app.add_typer(identity_app, name="identity")


def _intake_access() -> tuple[AsyncMongoClient[Document], IntakeStore, IdentityVault]:
    from services.intake.identity import vault_of
    from services.intake.store import IntakeStore
    from shared.persistence import ServiceDatabase, mongo_client

    settings = Settings()
    vault = vault_of(settings)
    if vault is None:
        raise typer.BadParameter("INSATS_IDENTITY_MASTER_KEY is needed to open identity data")
    client = mongo_client(settings)
    store = IntakeStore(ServiceDatabase(client, settings, "intake"))
    return client, store, vault


@identity_app.command("show")
def identity_show(
    participant_id: Annotated[str, typer.Argument(help="The pseudonymous participant id")],
    actor: Annotated[str, typer.Option(help="Who reads: name and role")],
    reason: Annotated[str, typer.Option(help="Why: recorded in the audit")],
) -> None:
    from services.intake.identity_access import Accessor, read_identity

    async def run() -> IdentityRecord | None:
        client, store, vault = _intake_access()
        try:
            return await read_identity(store, vault, participant_id, Accessor(actor, reason))
        finally:
            await client.close()

    record = asyncio.run(run())
    console.print(record if record is not None else "no identity data (protected or erased)")


@identity_app.command("export")
def identity_export(
    programme: Annotated[str, typer.Option(help="The programme whose participants to export")],
    actor: Annotated[str, typer.Option(help="Who exports: name and role")],
    reason: Annotated[str, typer.Option(help="Why: recorded in the audit")],
    out: Annotated[Path, typer.Option(help="CSV file to write")],
) -> None:
    import csv

    from services.intake.identity_access import Accessor, export_identities

    async def run() -> list[tuple[str, IdentityRecord]]:
        client, store, vault = _intake_access()
        try:
            return await export_identities(store, vault, programme, Accessor(actor, reason))
        finally:
            await client.close()

    rows = asyncio.run(run())
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["participant_id", "personnummer", "name", "phone", "email", "address"])
        for pid, record in rows:
            writer.writerow(
                [
                    pid,
                    *(
                        getattr(record, f)
                        for f in ("personnummer", "name", "phone", "email", "address")
                    ),
                ]
            )
    console.print(f"exported {len(rows)} identities to {out} (audited)")


@identity_app.command("master-keys")
def identity_master_keys() -> None:
    """Each master key version: the person keys and waiting dead letters it still wraps, when it
    became current and when it was retired. A version may be destroyed once it wraps nothing and
    every backup of the key store taken before it was retired has expired."""
    from scripts.master_keys import status

    found = asyncio.run(status(Settings()))
    table = Table(
        "version", "current", "keys and index", "dead letters", "current since", "retired"
    )
    versions = {use.key_id: use for use in found.versions}
    for key_id in sorted(set(versions) | set(found.sealed_waiting)):
        use = versions.get(key_id)
        table.add_row(
            key_id,
            "yes" if key_id == found.current else "",
            str(use.person_keys if use else 0),
            str(found.sealed_waiting.get(key_id, 0)),
            str(use.current_since if use and use.current_since else "-"),
            str(use.retired_at if use and use.retired_at else "-"),
        )
    console.print(table)


@identity_app.command("rotate-master-key")
def identity_rotate_master_key(
    actor: Annotated[str, typer.Option(help="Who rotates: name and role")],
    reason: Annotated[str, typer.Option(help="Why: recorded in the audit")],
) -> None:
    """Wrap every person key (and waiting dead letter) again under the current version, the
    first in INSATS_IDENTITY_MASTER_KEY; the older versions must still be given."""
    from scripts.master_keys import rotate
    from services.intake.identity_access import Accessor

    done = asyncio.run(rotate(Settings(), Accessor(actor, reason)))
    console.print(
        f"{done.person_keys} person keys and index entries, and {done.dead_letters} dead "
        f"letters, now wrapped under {done.current} (audited)"
    )


@identity_app.command("reissue-legacy-ids")
def identity_reissue_legacy_ids(
    actor: Annotated[str, typer.Option(help="Who reissues: name and role")],
    reason: Annotated[str, typer.Option(help="Why: recorded in the audit")],
) -> None:
    """Give every participant of a version before 3 December 2026 (whose id was a keyed hash
    of the number) a random id; placement, outcomes and the municipalities are told by intake's
    relay. Safe to run again."""
    from datetime import UTC, datetime

    from services.intake.identity import vault_of
    from services.intake.identity_access import Accessor
    from services.intake.reissue import reissue_legacy_ids
    from services.intake.store import IntakeStore
    from shared.contracts import topics
    from shared.key_custody import parse_keyring
    from shared.persistence import ServiceDatabase, mongo_client

    settings = Settings()
    vault = vault_of(settings)
    if vault is None or settings.identity_master_key is None:
        raise typer.BadParameter(
            "INSATS_IDENTITY_MASTER_KEY is needed to seal the identities again"
        )
    master = parse_keyring(settings.identity_master_key.get_secret_value())

    async def run() -> int:
        client = mongo_client(settings)
        try:
            store = IntakeStore(ServiceDatabase(client, settings, "intake"), master)
            done = await reissue_legacy_ids(
                store,
                vault,
                Accessor(actor, reason),
                settings.topic(topics.dead_letter_topic("intake")),
                datetime.now(UTC),
            )
            return done.participants
        finally:
            await client.close()

    console.print(f"{asyncio.run(run())} participant(s) given a random id (audited)")


@identity_app.command("audit")
def identity_audit() -> None:
    """Who read or exported identity data, and why; and every erasure."""

    async def run() -> list[Document]:
        client, store, _ = _intake_access()
        try:
            return await store.audit.find({}).sort("at", 1).to_list()
        finally:
            await client.close()

    table = Table("at", "action", "actor", "reason", "participant / programme / dead letters")
    for entry in asyncio.run(run()):
        table.add_row(
            str(entry.get("at")),
            str(entry.get("action")),
            str(entry.get("actor")),
            str(entry.get("reason")),
            str(
                entry.get("participant_id")
                or entry.get("programme_id")
                or ", ".join(entry.get("dead_letters") or ())
            ),
        )
    console.print(table)


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


_ACTOR_HELP = "Who reads: name and role (needed for intake's letters, audited)"
_REASON_HELP = "Why: recorded in intake's audit (needed for intake's letters)"


def _audit_intake_letters(
    service: str, actor: str | None, reason: str | None, action: str, ids: list[str]
) -> None:
    """Intake's letters hold clear personnummer: the audit entry is written before any is shown
    or replayed, and without an actor and a reason nothing is."""
    if service != "intake":
        return
    from services.intake.identity_access import Accessor, AccessRefused, audit_dead_letters
    from services.intake.store import IntakeStore
    from shared.persistence import ServiceDatabase, mongo_client

    async def run() -> None:
        settings = Settings()
        client = mongo_client(settings)
        try:
            store = IntakeStore(ServiceDatabase(client, settings, "intake"))
            await audit_dead_letters(store, Accessor(actor or "", reason or ""), action, ids)
        finally:
            await client.close()

    try:
        asyncio.run(run())
    except AccessRefused as refused:
        raise typer.BadParameter(
            f"{refused}: intake's dead letters may hold a clear personnummer; give --actor and "
            "--reason"
        ) from None


def _opened(settings: Settings, letters: list[DeadLetter]) -> list[DeadLetter]:
    """Sealed letters (intake's) opened with the master key; the audit is written first."""
    if not any(letter.sealed for letter in letters):
        return letters
    if settings.identity_master_key is None:
        raise typer.BadParameter(
            "intake's dead letters are sealed: INSATS_IDENTITY_MASTER_KEY opens them"
        )
    from shared.key_custody import parse_keyring

    master = parse_keyring(settings.identity_master_key.get_secret_value())
    return [letter.opened(master) for letter in letters]


@dlq_app.command("show")
def dlq_show(
    service: Annotated[str, typer.Argument(help="intake, placement or outcomes")],
    letter_id: Annotated[str, typer.Argument(help="partition:offset, as `dlq list` shows")],
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
    reason: Annotated[str | None, typer.Option(help=_REASON_HELP)] = None,
) -> None:
    from shared.messaging.dlq_admin import read_dead_letters

    letters = asyncio.run(read_dead_letters(Settings(), [service]))
    letter = next((item for item in letters if item.id == letter_id), None)
    if letter is None:
        raise typer.BadParameter(f"no dead letter {letter_id} for {service}")
    _audit_intake_letters(service, actor, reason, "dead_letter_read", [letter.id])
    [letter] = _opened(Settings(), [letter])
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
    actor: Annotated[str | None, typer.Option(help=_ACTOR_HELP)] = None,
    reason: Annotated[str | None, typer.Option(help=_REASON_HELP)] = None,
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
    _audit_intake_letters(
        service, actor, reason, "dead_letter_replay", [letter.id for letter in chosen]
    )
    count = asyncio.run(replay(settings, _opened(settings, chosen)))
    console.print(f"replayed {count} dead letter(s)")


def main() -> None:
    app()
