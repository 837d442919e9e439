"""The one-shot `demo` of deploy/compose.yaml: the demo scenario played against the services
that compose runs, rather than against processes on the local stack as `insats demo` does.

It publishes the seed programmes, partners and agreements, then ten months of referrals, partner
reports and follow-ups as the outside systems would, waits after each step until every service
has consumed and published everything, and prints each programme's report and the rejections.
Inside the Insats image, with the services' environment:

    docker compose -f deploy/compose.yaml run --rm demo
"""

from __future__ import annotations

import asyncio
import sys

from rich.console import Console

# The steps of `insats demo` itself, so both demos play the very same scenario.
from scripts.demo.runner import play_scenario, print_results
from scripts.demo.scenario import Scenario
from shared.settings import Settings

PARTICIPANTS = 320
SEED = 2026


async def main() -> int:
    console = Console(width=120)
    settings = Settings()
    scenario = Scenario(PARTICIPANTS, SEED)
    await play_scenario(console, scenario, settings)
    await print_results(console, scenario, settings)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
