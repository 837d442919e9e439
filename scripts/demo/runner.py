"""`insats demo`: the platform end to end on the local stack, playing the outside systems.

It starts the stack (if it is not running) and the three services as processes, then plays the
municipal systems and partners for ten months of 2026: programmes, partners and agreements are
published; referrals arrive month by month as JSON on the inbound topic; partners end placements
and caseworkers report the status at exit. Between steps it waits until every service has consumed
and published everything. It ends with the per-programme report, stops what it started, and exits
0 only if every referral was accounted for.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scripts.demo.scenario import Scenario
from scripts.harness import (
    Namespace,
    Platform,
    Publisher,
    read_topic,
    reset_namespace,
    settings_for,
    wait_settled,
)
from scripts.render import report_table
from scripts.stack import Stack
from services.outcomes.reports import programme_reports
from services.outcomes.store import OutcomesStore
from shared.contracts import topics
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings


async def run_demo(console: Console, *, participants: int, seed: int) -> int:
    started = time.monotonic()
    stack = Stack()
    was_running = all(item.answers for item in await stack.check())
    with console.status("Starting the local stack (the first run installs Kafka and SecantusDB)"):
        await stack.start()
    env = {
        **stack.environment(),
        **Namespace("demo").environment(),
        # A fresh key per run: pseudonyms are per deployment, and this run is its own deployment.
        "INSATS_PSEUDONYM_KEY": secrets.token_hex(32),
        "INSATS_LOG_FORMAT": "json",
    }
    settings = settings_for(env)
    platform = Platform(env, Path(".local/demo/logs"))
    try:
        await reset_namespace(settings)
        with console.status("Starting intake, placement and outcomes"):
            platform.start()
            await platform.wait_ready()
        scenario = Scenario(participants, seed)
        await _play(console, scenario, settings)
        await _print_results(console, scenario, settings)
    finally:
        codes = platform.stop()
        if not was_running:
            stack.down()
    console.print(
        f"Services stopped with exit codes {codes}; logs in {platform.log_dir}. "
        f"Done in {time.monotonic() - started:.0f} s."
    )
    return 0 if all(code == 0 for code in codes.values()) else 1


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
            for month in scenario.months:
                for envelope in month.referrals:
                    await publisher.send(envelope)
                for key, raw in month.broken:
                    await publisher.send_raw(topics.MUNICIPAL_REFERRALS, raw, key)
                await publisher.flush()
                await wait_settled(settings)
                progress.advance(referrals, len(month.referrals) + len(month.broken))
                active = await _active_placements(settings)
                for end_report, outcome in scenario.endings(active, month):
                    await publisher.send(end_report)
                    await publisher.send(outcome)
                await publisher.flush()
                await wait_settled(settings)
                progress.advance(months)


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


async def _print_results(console: Console, scenario: Scenario, settings: Settings) -> None:
    client = mongo_client(settings)
    try:
        store = OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
        console.print(report_table(await programme_reports(store)))
    finally:
        await client.close()
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
