"""`insats demo`: the platform end to end on the local stack, playing the outside systems.

It starts the stack (if it is not running) and the three services as processes, then plays the
municipal systems and partners for ten months of 2026: programmes, partners and agreements are
published; referrals arrive month by month as JSON on the inbound topic; partners end placements
and caseworkers report the status at exit, then answer the follow-ups outcomes announces as they
fall due. Between steps it waits until every service has consumed and published everything. It
ends with each programme's indicators, writes the dashboard's pages, stops what it started, and
exits 0 only if every referral was accounted for.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scripts.demo.journeys import LEAVE_MONTH, LINK_MONTH, MOVE_MONTH, RETURN_MONTH
from scripts.demo.plans import plans_table, play_plans
from scripts.demo.portal import PORTAL_PORT, log_in, register_people, start_gateway
from scripts.demo.restricted_places import restricted_places
from scripts.demo.scenario import HALMSTAD, KALMAR_ESF, KUNGSBACKA_IOP, Scenario
from scripts.demo.support import play_support
from scripts.harness import (
    Namespace,
    Platform,
    Publisher,
    ServiceProcess,
    read_topic,
    reset_namespace,
    settings_for,
    wait_settled,
)
from scripts.render import programme_overview, programme_summary
from scripts.scb_files import write_scb_months
from scripts.stack import Stack
from scripts.stack.identity import IdentityProvider
from scripts.sus_file import write_sus
from services.outcomes.dashboard import write_pages
from services.outcomes.indicators import lookup
from services.outcomes.overview import ProgrammeOverview
from services.outcomes.presentation import fraction, shown_value
from services.outcomes.provenance import MANIFEST_SUFFIX, ReportRequest, export_verifiable, verify
from services.outcomes.reports import programme_overviews
from services.outcomes.store import OutcomesStore
from shared.contracts import topics
from shared.contracts.outcomes import FollowUpDue, OutcomeRecorded
from shared.contracts.tenants import Channel, Tenant
from shared.messaging.kafka import ensure_topics, tenant_topic_configs
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings

# Six months after the last played month (October 2026).
DEMO_TODAY = date(2027, 4, 30)
DASHBOARD = Path(".local/demo/dashboard")
JOURNEY_MONTHS = frozenset({LEAVE_MONTH, MOVE_MONTH, LINK_MONTH, RETURN_MONTH})


async def run_demo(
    console: Console, *, participants: int, seed: int, keep_running: bool = False
) -> int:
    started = time.monotonic()
    stack = Stack()
    not_running = [item.name for item in await stack.check() if not item.answers]
    with console.status("Starting the local stack (the first run installs Kafka and SecantusDB)"):
        await stack.start()
    env = {
        **stack.environment(),
        **Namespace("demo").environment(),
        # A fresh key per run: pseudonyms are per deployment, and this run is its own deployment.
        "INSATS_PSEUDONYM_KEY": secrets.token_hex(32),
        "INSATS_AUDIENCE_KEY": secrets.token_hex(32),
        "INSATS_IDENTITY_MASTER_KEY": secrets.token_hex(32),
        "INSATS_IDENTITY_READ_SECRET": secrets.token_hex(32),
        "INSATS_LOG_FORMAT": "json",
        # Outcomes' clock: six months past the played months, so that the follow-ups of the
        # year's exits (at exit, after 4 weeks, 3 and 6 months) have fallen due.
        "INSATS_TODAY": DEMO_TODAY.isoformat(),
        # The demo plays a past year in minutes: its referrals are dated months before the day
        # intake receives them (DEMO_TODAY), which a live deployment would refuse as too old.
        "INSATS_REFERRAL_MAX_AGE_DAYS": "3650",
        # Kungsbacka's rounds are played at each month's end (Scenario.rounds), not by the wall
        # clock, which would hold this week's round in the middle of 2026.
        "INSATS_ALLOCATION_SCHEDULED_ROUNDS": "false",
        "INSATS_OUTCOMES_FOLLOW_UP_CHECK_SECONDS": "1",
        # Placement looks for expired offers (and due check-ins) every second.
        "INSATS_DUE_CHECK_SECONDS": "1",
    }
    settings = settings_for(env)
    platform = Platform(env, Path(".local/demo/logs"))
    gateway: ServiceProcess | None = None
    codes_gateway: int | None = 0
    try:
        await reset_namespace(settings)
        with console.status("Onboarding the municipalities, the Kalmar län owner and partners"):
            # Every tenant's own topics exist before the services start, as an operator's
            # onboarding makes them: the services' pattern subscriptions find them at once.
            for tenant in Scenario(participants, seed).tenants():
                await ensure_topics(settings, tenant_topic_configs(settings, tenant))
        with console.status("Starting intake, placement, outcomes and the gateway"):
            platform.start()
            await platform.wait_ready()
            provider = IdentityProvider(stack.keycloak)
            gateway = await start_gateway(env, provider, platform)
        scenario = Scenario(participants, seed)
        await play_scenario(console, scenario, settings)
        await _let_an_offer_expire(console, scenario, platform, settings)
        await _print_results(console, scenario, settings)
        await _write_funder_reports(console, settings)
        await _show_portal(console, provider)
        if keep_running:
            await asyncio.to_thread(input, "The platform keeps running: press Enter to stop it. ")
    finally:
        if gateway is not None:
            codes_gateway = gateway.terminate()
        codes = platform.stop()
        codes["gateway"] = codes_gateway
        stack.down(only=not_running)
    console.print(
        f"Services stopped with exit codes {codes}; logs in {platform.log_dir}. "
        f"Done in {time.monotonic() - started:.0f} s."
    )
    return 0 if all(code == 0 for code in codes.values()) else 1


async def _show_portal(console: Console, provider: IdentityProvider) -> None:
    """The portal's address and a login for a partner's staff, a caseworker and a programme's
    owner, each tried the way a browser logs in before it is printed."""
    base = f"http://127.0.0.1:{PORTAL_PORT}"
    with console.status("Registering a partner's staff, a caseworker and an owner in Keycloak"):
        people = await asyncio.to_thread(register_people, provider)
        for person in people:
            await (await log_in(base, person)).aclose()
    table = Table(title=f"The portal: {base}/portal/ (logins checked just now)")
    for column in ("user", "password", "organisation", "role"):
        table.add_column(column)
    for person in people:
        table.add_row(person.username, person.password, person.tenant.key, person.role)
    console.print(table)
    console.print(f"HTTP API for systems: {base}/docs (OpenAPI at {base}/openapi.json)")


async def play_scenario(console: Console, scenario: Scenario, settings: Settings) -> None:
    """Play the outside systems against services already running with `settings` (and with
    INSATS_TODAY set to DEMO_TODAY): `insats demo` and the compose demo (which then prints the
    results with print_results)."""
    await _play(console, scenario, settings)
    with console.status("Individual plans: Halmstad's four steps, Helsingborg's hours into OSA"):
        into_osa = await play_plans(settings)
    await _answer_follow_ups(console, scenario, settings)
    with console.status("Support check-ins answered, support tasks opened and closed"):
        support = await play_support(settings, scenario.seed, DEMO_TODAY)
    console.print(support)
    console.print(await plans_table(settings, into_osa))


async def print_results(console: Console, scenario: Scenario, settings: Settings) -> None:
    await _print_results(console, scenario, settings)


def _forget_sent_months(out: Path) -> None:
    for earlier in out.glob("scb-*"):
        earlier.unlink()


async def _write_funder_reports(console: Console, settings: Settings) -> None:
    """The Kalmar programme's funder report, computed from the event log with its provenance,
    then verified by recomputing it from the very records it names."""
    out = Path(".local/demo/reports")
    # Each run is a deployment of its own (its own pseudonym key): no month was sent before.
    await asyncio.to_thread(_forget_sent_months, out)
    with console.status("Writing Kalmar's funder report from the event log, and verifying it"):
        written = await export_verifiable(
            settings,
            out,
            ReportRequest(
                as_of=DEMO_TODAY, programme_ids=[KALMAR_ESF], kolada_year=DEMO_TODAY.year - 1
            ),
        )
        manifests = [p for p in written if p.name.endswith(MANIFEST_SUFFIX)]
        checked = [await verify(settings, manifest) for manifest in manifests]
        # The files with identities: SCB's months of the played year and SUS's registrations,
        # read from intake with an actor and a reason (audited).
        who = ("Projektekonom, Kommunförbundet Kalmar län", "Demonstration av rapporteringen")
        scb_files, _ = await write_scb_months(
            settings, KALMAR_ESF, f"{DEMO_TODAY.year - 1}-12", *who, out
        )
        sus_files, named, anonymous = await write_sus(
            settings, KALMAR_ESF, (date(DEMO_TODAY.year - 1, 1, 1), DEMO_TODAY), *who, out
        )
        manifests += [p for p in (*scb_files, *sus_files) if p.name.endswith(MANIFEST_SUFFIX)]
        checked += [await verify(settings, manifest) for manifest in manifests[len(checked) :]]
        written += [*scb_files, *sus_files]
    console.print(
        f"Funder report for {KALMAR_ESF} and Kolada's figure per municipality: "
        f"{', '.join(p.name for p in written if 'scb-' not in p.name)} in {out}; SCB's "
        f"{len(scb_files) - 1} monthly files and SUS's registrations ({named} identified, "
        f"{anonymous} anonymous), identities read with an actor and a reason (audited)"
    )
    for manifest, result in zip(manifests, checked, strict=True):
        console.print(
            f"`insats report verify {manifest.name}`: "
            + ("verified, every file reproduced" if result.ok else "[red]does not verify[/red]")
        )
        if not result.ok:
            raise RuntimeError(f"the demo's own report did not verify: {result}")


async def _let_an_offer_expire(
    console: Console, scenario: Scenario, platform: Platform, settings: Settings
) -> None:
    """Kungsbacka's last unanswered offer, a week and a day later: placement is restarted on
    that business day, the offer expires, and the next allocation round offers its place on."""
    still_open = await _unanswered_offers(settings, KUNGSBACKA_IOP)
    placement_id = scenario.journeys.unanswered
    if placement_id not in still_open:
        # The offer left unanswered was meanwhile withdrawn (or answered): another open one
        # shows the same rule.
        placement_id = still_open[0] if still_open else None
        scenario.journeys.unanswered = placement_id
    if placement_id is None:
        return
    later = DEMO_TODAY + timedelta(days=8)
    with console.status(f"Placement on {later}: an offer left unanswered for a week expires"):
        codes = platform.stop("placement")
        if codes != {"placement": 0}:
            raise RuntimeError(f"placement did not stop cleanly: {codes}")
        platform.env["INSATS_TODAY"] = later.isoformat()
        platform.start("placement")
        await platform.wait_ready("placement")
        deadline = time.monotonic() + 60
        while not await _expired(settings, placement_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"offer {placement_id} did not expire")
            await asyncio.sleep(0.5)
        async with Publisher(settings) as publisher:
            for request in scenario.rounds_on(later):
                await publisher.send(request)
            await publisher.flush()
        await wait_settled(settings)
    scenario.journeys.expired = True


async def _expired(settings: Settings, placement_id: str) -> bool:
    for _, value, _ in await read_topic(settings, topics.PLACEMENT_EVENTS):
        event = json.loads(value)
        data = event["data"]
        if (
            event["type"] == "insats.placement.changed.v1"
            and data["placement_id"] == placement_id
            and data["change"] == "expired"
        ):
            return True
    return False


async def _play(console: Console, scenario: Scenario, settings: Settings) -> None:
    total = sum(len(m.referrals) + len(m.broken) for m in scenario.months)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        setup = progress.add_task("Programmes, partners, agreements", total=1)
        async with Publisher(settings) as publisher:
            for event in scenario.setup_events():
                await publisher.send(event)
            await publisher.flush()
            await wait_settled(settings)
            progress.advance(setup)
            referrals = progress.add_task("Referrals published and settled", total=total)
            months = progress.add_task("Months of 2026 played", total=len(scenario.months))
            answered: set[str] = set()
            for month in scenario.months:
                for envelope in month.referrals:
                    await publisher.send(envelope)
                for key, raw in month.broken:
                    # Broken on purpose, from Halmstad's case system, on its own topic.
                    await publisher.send_as(
                        Tenant.municipality(HALMSTAD), Channel.REFERRALS, raw, key
                    )
                await publisher.flush()
                await wait_settled(settings)
                for request in scenario.rounds(month):
                    await publisher.send(request)
                await publisher.flush()
                await wait_settled(settings)
                progress.advance(referrals, len(month.referrals) + len(month.broken))
                # Offers are answered until none is left open: a declined place is offered on.
                while offers := await _open_offers(settings, answered):
                    answered |= {offer["placement_id"] for offer in offers}
                    for response in scenario.responses(offers, month):
                        await publisher.send(response)
                    await publisher.flush()
                    await wait_settled(settings)
                active = await _active_placements(settings)
                for report in scenario.attendance(active, month):
                    await publisher.send(report)
                for end_report, outcome in scenario.endings(active, month):
                    await publisher.send(end_report)
                    await publisher.send(outcome)
                await publisher.flush()
                await wait_settled(settings)
                if month.number in JOURNEY_MONTHS:
                    waiting, enrolled = await _waiting_and_enrolled(settings)
                    for event in scenario.journeys.events(
                        month.number,
                        month.last_day,
                        scenario.referrals_by_id(),
                        waiting,
                        enrolled,
                    ):
                        await publisher.send(event)
                    await publisher.flush()
                    await wait_settled(settings)
                progress.advance(months)


def _journeys_table(scenario: Scenario) -> Table:
    journeys = scenario.journeys
    table = Table("what happened", "who", title="Journeys beyond a placement's end")
    for referral, reason in journeys.left_waiting:
        table.add_row(f"left while waiting ({reason.value})", referral.referral_id)
    if journeys.returned is not None:
        table.add_row("returned after leaving: participation 2", journeys.returned.referral_id)
    if journeys.moved is not None:
        table.add_row(
            "moved from Kalmar to Nybro; the enrolment followed", journeys.moved.referral_id
        )
    if journeys.unanswered is not None and journeys.expired:
        table.add_row(
            "offer unanswered for a week: expired, its place offered on", journeys.unanswered
        )
    if journeys.newcomer is not None and journeys.new_number is not None:
        table.add_row(
            "samordningsnummer replaced by a personnummer: one participant",
            journeys.newcomer.referral_id,
        )
    return table


def _effect_on_the_figures(
    views: list[ProgrammeOverview], every_exit: list[ProgrammeOverview]
) -> Table:
    """Sysselsättning at exit over every exit (@1) and without those who died, fell ill or moved
    (@2), with how many left before any placement: what the exits do to the headline."""
    table = Table(
        "programme",
        "sysselsättning@1 (every exit)",
        "sysselsättning@2 (exclusions)",
        "left without a placement",
        title="The effect of exits on the figures",
    )
    before = {v.programme.programme_id: v.result("sysselsattning_vid_avslut@1") for v in every_exit}
    for view in views:
        old = before[view.programme.programme_id]
        new = view.result("sysselsattning_vid_avslut@2")
        unplaced = view.result("avslutade_utan_placering@1")
        table.add_row(
            view.programme.name,
            f"{shown_value(old.indicator, old.total)} ({fraction(old.total)})",
            f"{shown_value(new.indicator, new.total)} ({fraction(new.total)})",
            shown_value(unplaced.indicator, unplaced.total),
        )
    return table


async def _waiting_and_enrolled(settings: Settings) -> tuple[set[str], set[str]]:
    """The referral ids of the open enrolments, and of those among them not yet offered a
    place: what a caseworker's case system sees of its residents."""
    opened: dict[tuple[str, str], str] = {}
    closed: set[tuple[str, str]] = set()
    for _, value, _ in await read_topic(settings, topics.INTAKE_EVENTS):
        event = json.loads(value)
        data = event["data"]
        key = (data.get("participant_id", ""), data.get("programme_id", ""))
        if event["type"] == "insats.participant.enrolled.v1":
            opened[key] = data["referral_id"]
            closed.discard(key)
        elif event["type"] == "insats.participation.exited.v1":
            closed.add(key)
    offered = set()
    for _, value, _ in await read_topic(settings, topics.PLACEMENT_EVENTS):
        event = json.loads(value)
        if event["type"] == "insats.placement.offered.v1":
            offered.add((event["data"]["participant_id"], event["data"]["programme_id"]))
        elif event["type"] == "insats.placement.ended.v1" and event["data"]["exits_programme"]:
            closed.add((event["data"]["participant_id"], event["data"]["programme_id"]))
    enrolled = {referral for key, referral in opened.items() if key not in closed}
    waiting = {referral for key, referral in opened.items() if key not in closed | offered}
    return waiting, enrolled


async def _unanswered_offers(settings: Settings, programme_id: str) -> list[str]:
    """The programme's offers that nothing has happened to since they were made."""
    still_open: dict[str, None] = {}
    for _, value, _ in await read_topic(settings, topics.PLACEMENT_EVENTS):
        event = json.loads(value)
        data = event["data"]
        if event["type"] == "insats.placement.offered.v1":
            if data["programme_id"] == programme_id:
                still_open[data["placement_id"]] = None
        elif data.get("placement_id") in still_open:
            still_open.pop(data["placement_id"])
    return list(still_open)


async def _open_offers(settings: Settings, answered: set[str]) -> list[dict[str, Any]]:
    """Offers a partner and caseworker have not answered yet."""
    offers = []
    for _, value, _ in await read_topic(settings, topics.PLACEMENT_EVENTS):
        event = json.loads(value)
        data = event["data"]
        if event["type"] == "insats.placement.offered.v1" and data["placement_id"] not in answered:
            offers.append(data)
    return offers


async def _active_placements(settings: Settings) -> list[dict[str, str]]:
    """What a partner's system knows: placements started and not yet ended."""
    active: dict[str, dict[str, str]] = {}
    for _, value, _ in await read_topic(settings, topics.PLACEMENT_EVENTS):
        event = json.loads(value)
        data = event["data"]
        if event["type"] == "insats.placement.started.v1":
            active[data["placement_id"]] = data
        elif event["type"] == "insats.placement.ended.v1":
            active.pop(data["placement_id"], None)
    return sorted(active.values(), key=lambda p: p["placement_id"])


async def _all_announced(settings: Settings, timeout: float = 60.0) -> None:
    """Until the outcomes service has announced every follow-up due by its today."""
    client = mongo_client(settings)
    try:
        store = OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
        deadline = time.monotonic() + timeout
        while True:
            asked = {p.programme_id: p.follow_ups for p in await store.programme_definitions()}
            if await store.count_due(DEMO_TODAY, asked) == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("follow-ups not announced in time")
            await asyncio.sleep(0.3)
    finally:
        await client.close()
    await wait_settled(settings)


async def _answer_follow_ups(console: Console, scenario: Scenario, settings: Settings) -> None:
    """Caseworkers answer the follow-ups outcomes announced, as a case system subscribed to
    insats.outcomes.events would."""
    with console.status(f"Follow-ups falling due by {DEMO_TODAY} and answered"):
        await _all_announced(settings)
        due: list[dict[str, Any]] = []
        at_exit: dict[tuple[str, str], str] = {}
        for _, value, _ in await read_topic(settings, topics.OUTCOMES_EVENTS):
            event = json.loads(value)
            data = event["data"]
            if event["type"] == FollowUpDue.TYPE:
                due.append(data)
            elif event["type"] == OutcomeRecorded.TYPE and data["follow_up"] == "vid_avslut":
                at_exit[(data["programme_id"], data["participant_id"])] = data["status"]
        answers = scenario.follow_up_answers(due, at_exit)
        async with Publisher(settings) as publisher:
            for answer in answers:
                await publisher.send(answer)
            await publisher.flush()
        await wait_settled(settings)
    console.print(
        f"Outcomes announced {len(due)} follow-ups due by {DEMO_TODAY}; "
        f"caseworkers answered {len(answers)}, the rest are overdue."
    )


async def _print_results(console: Console, scenario: Scenario, settings: Settings) -> None:
    client = mongo_client(settings)
    try:
        store = OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
        views = await programme_overviews(store, DEMO_TODAY)
        every_exit = await programme_overviews(
            store, DEMO_TODAY, definitions=[lookup("sysselsattning_vid_avslut@1")]
        )
    finally:
        await client.close()
    console.print(programme_summary(views))
    for view in views:
        console.print(programme_overview(view))
    console.print(_journeys_table(scenario))
    console.print(_effect_on_the_figures(views, every_exit))
    pages = write_pages(views, DASHBOARD)
    console.print(f"Dashboard: {pages[0].resolve()} (one page per programme beside it)")
    steps: Counter[str] = Counter()
    rounds: dict[str, Counter[str]] = {}
    for _, value, _ in await read_topic(settings, topics.PLACEMENT_EVENTS):
        event = json.loads(value)
        step = event["type"].removeprefix("insats.").removesuffix(".v1")
        steps[f"{step} ({event['data']['change']})" if "change" in event["data"] else step] += 1
        if step == "placement.offered" and event["data"].get("round_id"):
            offered = rounds.setdefault(event["data"]["round_id"], Counter())
            offered[event["data"]["priority_class"]] += 1
            offered["held"] += bool(event["data"].get("reserved_place"))
    lifecycle = Table("placement events", "count", title="Placements: offers, lifecycle, risks")
    for step, count in sorted(steps.items()):
        lifecycle.add_row(step, str(count))
    console.print(lifecycle)
    allocation = Table(
        "round",
        "offers to income-support recipients",
        "to others (i mån av plats)",
        "of them on places held for the group",
        title="Kungsbacka: allocation rounds, places offered down the queue in priority order",
    )
    for round_id, offered in sorted(rounds.items()):
        allocation.add_row(
            round_id.split("/")[0],
            str(offered["forsorjningsstod"]),
            str(offered["ovriga"]),
            str(offered["held"]),
        )
    console.print(allocation)
    console.print((await restricted_places(settings)).table())
    rejections: Counter[str] = Counter()
    for _, value, _ in await read_topic(settings, topics.INTAKE_EVENTS):
        event = json.loads(value)
        if event["type"] == "insats.referral.rejected.v1":
            rejections[event["data"]["reason"]] += 1
    dead: Counter[str] = Counter()
    for _, _, headers in await read_topic(settings, topics.dead_letter_topic("intake")):
        dead[headers.get("insats-dlq-code", b"?").decode()] += 1
    table = Table("reason", "referrals rejected", "expected by the scenario", "dead-lettered")
    for code in sorted(set(rejections) | set(scenario.expected_rejections)):
        table.add_row(
            code,
            str(rejections[code]),
            str(scenario.expected_rejections.get(code, 0)),
            str(dead.get(code, 0)),
        )
    console.print(table)
