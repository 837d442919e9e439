"""What one referral costs each service in database round trips, counted by the services' own
command listener (insats_database_commands_total) while a burst of referrals flows through all
three processes, and held to a budget so that a per-record query or write cannot creep back in
unnoticed. The idle cost of the same stretch of time (the relays' and periodic jobs' polls) is
measured right after and taken off. `python -m bench.e2e` prints the same figures."""

from __future__ import annotations

import asyncio
import time
from datetime import date

from scripts.harness import Platform, Publisher, wait_settled
from services.intake.personnummer import format_with_check
from shared.contracts.envelope import new_event
from shared.settings import Settings
from tests.support import HALMSTAD
from tests.unit.factories import agreement, programme, referral

REFERRALS = 300
# Round trips per referral, per service, measured on the local stack (see the test's output)
# with some room: a handler that queried or wrote per record would add one or more each.
BUDGET = {"intake": 0.5, "placement": 0.5, "outcomes": 0.5}


def commands(platform: Platform) -> dict[str, float]:
    """Every service's database commands so far, from its /metrics."""
    counted: dict[str, float] = {}
    for name, process in platform.services.items():
        status, body = process.health("/metrics")
        assert status == 200, body
        counted[name] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("insats_database_commands_total{")
        )
    return counted


async def test_a_referral_costs_each_service_few_database_round_trips(
    platform: Platform, settings: Settings
) -> None:
    async with Publisher(settings) as publisher:
        for data in (programme(capacity=50), agreement(places=50)):
            await publisher.send(new_event(data, source=HALMSTAD.urn, municipality="1380"))
        await publisher.flush()
        await wait_settled(settings)
        before = await asyncio.to_thread(commands, platform)
        started = time.monotonic()
        for n in range(REFERRALS):
            born = date(1970 + n % 30, 1 + n % 12, 1 + n % 28)
            sent = referral(referral_id=f"1380-db-{n}", personnummer=format_with_check(born, n))
            await publisher.send(new_event(sent, source=HALMSTAD.urn, municipality="1380"))
        await publisher.flush()
    await wait_settled(settings, quiet_for=0.5)
    elapsed = time.monotonic() - started
    after = await asyncio.to_thread(commands, platform)
    await asyncio.sleep(elapsed)
    idle = await asyncio.to_thread(commands, platform)
    per_referral = {
        name: ((after[name] - before[name]) - (idle[name] - after[name])) / REFERRALS
        for name in after
    }
    print(
        "database round trips per referral: "
        + ", ".join(f"{name} {cost:.2f}" for name, cost in per_referral.items())
        + f" ({REFERRALS} referrals in {elapsed:.1f} s)"
    )
    for name, cost in per_referral.items():
        assert cost <= BUDGET[name], f"{name}: {cost:.2f} round trips per referral"
