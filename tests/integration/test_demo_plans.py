"""The demo's individual plans, played against the real broker and database exactly as
`make demo` plays them: Halmstad's four steps with two side by side, and Helsingborg's hours
stepping up from 8 into an OSA employment at the same partner, followed by support check-ins."""

from __future__ import annotations

import json
from datetime import date

from scripts.demo.plans import plans_table, play_plans
from scripts.demo.runner import DEMO_TODAY
from scripts.demo.scenario import HALMSTAD_150, HELSINGBORG_STEG, Scenario
from scripts.harness import Publisher, read_topic, wait_settled
from shared.contracts import topics
from shared.contracts.plans import EmploymentKind, StepStatus
from shared.messaging.kafka import ensure_topics, tenant_topic_configs
from shared.settings import Settings
from tests.support import outcomes_store, running


async def test_the_demo_walks_halmstads_four_steps_and_helsingborgs_hours_into_osa(
    env: dict[str, str], settings: Settings
) -> None:
    env.update({"INSATS_TODAY": DEMO_TODAY.isoformat(), "INSATS_DUE_CHECK_SECONDS": "1"})
    scenario = Scenario(participants=10, seed=7)
    for tenant in scenario.tenants():
        await ensure_topics(settings, tenant_topic_configs(settings, tenant))
    async with running("intake", env), running("placement", env), running("outcomes", env):
        async with Publisher(settings) as publisher:
            for event in scenario.setup_events():
                await publisher.send(event)
            await publisher.flush()
        await wait_settled(settings)
        into_osa = await play_plans(settings)
        await wait_settled(settings)
        table = await plans_table(settings, into_osa)
    events = [json.loads(v) for _, v, _ in await read_topic(settings, topics.PLACEMENT_EVENTS)]
    offered = [e["data"] for e in events if e["type"] == "insats.placement.offered.v1"]
    offers = {o["plan_step_id"]: o for o in offered if o["plan_step_id"]}
    # Each was offered a place on referral, before the caseworker's plan: the plan withdrew
    # those unanswered offers, and decides what they wait for.
    before_plan = {o["placement_id"] for o in offered if not o["plan_step_id"]}
    withdrawn = {
        e["data"]["placement_id"]
        for e in events
        if e["type"] == "insats.placement.changed.v1" and e["data"]["change"] == "withdrawn"
    }
    assert before_plan and before_plan <= withdrawn
    # Each placement step offered once, where the plan says, with the plan's hours.
    assert {step: (o["partner_id"], o["hours_per_week"]) for step, o in offers.items()} == {
        "h-praktik": ("halland-handel", 15),
        "h-arbetstraning": ("halland-logistik", 25),
        "b-arbetstraning": ("pingstkyrkan-second-hand", 8),
    }
    due = [
        e["data"]["due_date"]
        for e in events
        if e["type"] == "insats.support-check-in.due.v1" and e["data"]["placement_id"] == into_osa
    ]
    assert sorted(due) == ["2026-09-14", "2026-09-30", "2026-11-30"]
    async with outcomes_store(settings) as store:
        [halmstad] = await store.journeys_of(HALMSTAD_150)
        [helsingborg] = await store.journeys_of(HELSINGBORG_STEG)
    assert [(s.step_id, halmstad.step_status(s)) for s in halmstad.plan_steps] == [
        ("h-introduktion", StepStatus.COMPLETED),
        ("h-sfi", StepStatus.ONGOING),
        ("h-praktik", StepStatus.COMPLETED),
        ("h-arbetstraning", StepStatus.ONGOING),
    ]
    assert [(s.step_id, helsingborg.step_status(s)) for s in helsingborg.plan_steps] == [
        ("b-kartlaggning", StepStatus.COMPLETED),
        ("b-arbetstraning", StepStatus.COMPLETED),
        ("b-osa", StepStatus.ONGOING),
    ]
    assert helsingborg.hours == (
        (date(2026, 2, 16), 8),
        (date(2026, 4, 6), 12),
        (date(2026, 6, 1), 20),
    )
    [osa] = helsingborg.subsidised_employments
    assert (osa.employment, osa.employer_id) == (EmploymentKind.OSA, "pingstkyrkan-second-hand")
    assert table.row_count == 4 + 1 + 3 + 1 + 1  # steps and a summary per plan, the check-ins
