"""The demo's support after placements: partners answer the check-ins that fell due, a few
with "behöver stöd", which opens support tasks; the municipalities close most of them, some
late. Played against the running services, read back from their topics."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

from rich.table import Table

from scripts.harness import Publisher, read_topic, wait_settled
from shared.contracts import topics
from shared.contracts.envelope import new_event
from shared.contracts.partner import SupportCheckInReported, SupportTaskClosedReported
from shared.contracts.vocabulary import CheckInStatus
from shared.settings import Settings

_DUE = "insats.support-check-in.due.v1"
_OPENED = "insats.support-task.opened.v1"
_CLOSED = "insats.support-task.closed.v1"
_ANSWERS = (
    (CheckInStatus.DOING_WELL, 0.65),
    (CheckInStatus.NEEDS_SUPPORT, 0.2),
    (CheckInStatus.NO_CONTACT, 0.15),
)


async def _events(settings: Settings, type_name: str) -> list[dict[str, Any]]:
    found = []
    for _, value, _ in await read_topic(settings, topics.PLACEMENT_EVENTS):
        event = json.loads(value)
        if event["type"] == type_name:
            found.append(event["data"])
    return found


def _status(rng: random.Random) -> CheckInStatus:
    draw, total = rng.random(), 0.0
    for status, share in _ANSWERS:
        total += share
        if draw < total:
            return status
    return CheckInStatus.DOING_WELL


async def play_support(settings: Settings, seed: int, today: date) -> Table:
    """Answer every check-in due, close two in three of the tasks that opens; the summary."""
    rng = random.Random(seed + 4)
    await wait_settled(settings)
    due = await _events(settings, _DUE)
    answered: Counter[CheckInStatus] = Counter()
    async with Publisher(settings) as publisher:
        for check_in in due:
            status = _status(rng)
            answered[status] += 1
            answer = SupportCheckInReported(
                check_in_id=check_in["check_in_id"],
                placement_id=check_in["placement_id"],
                on=min(today, date.fromisoformat(check_in["due_date"]) + timedelta(days=2)),
                status=status,
            )
            await publisher.send(
                new_event(
                    answer,
                    source=f"urn:partner:{check_in['partner_id']}",
                    municipality=check_in["municipality"],
                )
            )
        await publisher.flush()
        await wait_settled(settings)
        opened = await _events(settings, _OPENED)
        for task in opened:
            if rng.random() < 2 / 3:
                closing = SupportTaskClosedReported(
                    task_id=task["task_id"],
                    placement_id=task["placement_id"],
                    on=min(
                        today, date.fromisoformat(task["opened_on"]) + timedelta(rng.randint(2, 12))
                    ),
                    action="Samtal med deltagaren; jobbcoachen följer upp på arbetsplatsen",
                    reported_by=task["owner"],
                )
                await publisher.send(
                    new_event(
                        closing,
                        source=f"urn:kommun:{task['municipality']}",
                        municipality=task["municipality"],
                    )
                )
        await publisher.flush()
        await wait_settled(settings)
    closed = await _events(settings, _CLOSED)
    table = Table("support after placements", "count", title="Support check-ins and tasks")
    table.add_row("check-ins due (after work, studies or a completed placement)", str(len(due)))
    for status, count in sorted(answered.items()):
        table.add_row(f"  answered by the partner: {status.value}", str(count))
    reasons = Counter(task["reason"] for task in opened)
    for reason, count in sorted(reasons.items()):
        table.add_row(f"support tasks opened: {reason}", str(count))
    table.add_row("  closed by the municipality", str(len(closed)))
    table.add_row("    of them after their due date", str(sum(c["overdue"] for c in closed)))
    table.add_row("  still open", str(len(opened) - len(closed)))
    return table
