"""Helpers for tests against the real broker and database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from scripts.harness import Platform, Publisher, read_topic, settings_for
from services.outcomes.store import OutcomesStore
from shared import audience
from shared.audience import AudiencePseudonyms
from shared.contracts import topics
from shared.contracts.envelope import Envelope, EventData, new_event
from shared.contracts.tenants import Channel, Tenant, inbound_topic
from shared.key_custody import parse_keyring
from shared.messaging.service import ServiceRuntime
from shared.outbox_seal import open_record
from shared.persistence import ServiceDatabase, mongo_client
from shared.services import SERVICES, service_app
from shared.settings import Settings

# The municipality most tests publish as, and its own inbound topics (unprefixed).
HALMSTAD = Tenant.municipality("1380")


def tenant_topic(channel: Channel, tenant: Tenant = HALMSTAD) -> str:
    return inbound_topic(tenant, channel)


@asynccontextmanager
async def running(
    service: str, env: dict[str, str], **create: Any
) -> AsyncIterator[ServiceRuntime]:
    """One service in this process, on the real broker and database, started and stopped the way
    its ASGI server does it (startup hooks, broker, then the drain and relay flush on exit).
    `create` goes to the service's create(), e.g. an injected clock."""
    settings = settings_for(env)
    module = service_app(service)
    runtime: ServiceRuntime = module.create(settings, configure_logs=False, **create)
    app = runtime.asgi_app()
    async with app.start_lifespan_context():
        deadline = time.monotonic() + 60
        while not (await runtime.ready())[0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} never became ready: {await runtime.ready()}")
            await asyncio.sleep(0.2)
        yield runtime


@asynccontextmanager
async def platform_running(
    env: dict[str, str], log_dir: Path, *, clean_exit: bool = True
) -> AsyncIterator[Platform]:
    """The three services as processes, ready; stopped afterwards, and with `clean_exit` each
    expected to exit 0 (a graceful stop that committed and flushed)."""
    platform = Platform(env, log_dir)
    platform.start()
    try:
        await platform.wait_ready()
        yield platform
    finally:
        codes = platform.stop()
        if clean_exit:
            assert codes == dict.fromkeys(SERVICES, 0), codes


@asynccontextmanager
async def outcomes_store(settings: Settings) -> AsyncIterator[OutcomesStore]:
    """Outcomes' read models as the service stores them, for a test to read."""
    client = mongo_client(settings)
    try:
        yield OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
    finally:
        await client.close()


async def publish(settings: Settings, *events: Envelope[Any]) -> None:
    async with Publisher(settings) as publisher:
        for event in events:
            await publisher.send(event)
        await publisher.flush()


def event(data: EventData, municipality: str = "1380", source: str | None = None) -> Envelope[Any]:
    """An envelope as a municipality publishes it: by default from that municipality."""
    return new_event(data, source=source or f"urn:kommun:{municipality}", municipality=municipality)


async def events_on(
    settings: Settings, topic: str, type_name: str | None = None
) -> list[dict[str, Any]]:
    """The JSON envelopes on a topic, in partition order, optionally of one type. Each event once,
    as a consumer deduplicating on event id sees them: publishing is at least once."""
    found = []
    seen: set[str] = set()
    for _, value, _ in await read_topic(settings, topic):
        document = json.loads(value)
        if document.get("id") in seen:
            continue
        seen.add(document.get("id"))
        if type_name is None or document.get("type") == type_name:
            found.append(document)
    return found


async def raw_records(
    settings: Settings, topic: str
) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    return await read_topic(settings, topic)


async def opened_dead_letters(
    env: Mapping[str, str], settings: Settings
) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Intake's dead letters as an operator with the master key sees them: sealed on the topic,
    opened with the deployment's keyring (shared/outbox_seal.py)."""
    master = parse_keyring(env["INSATS_IDENTITY_MASTER_KEY"])
    return [
        (key, open_record(master, value, headers.items()), headers)
        for key, value, headers in await read_topic(settings, topics.dead_letter_topic("intake"))
    ]


def partner_sees(env: Mapping[str, str], participant_id: str, partner_id: str) -> str:
    """The id a partner's stream shows the participant under (shared/audience.py)."""
    pseudonyms = AudiencePseudonyms(env["INSATS_AUDIENCE_KEY"].encode())
    return pseudonyms.shown(audience.partner(partner_id), participant_id)


def municipality_sees(env: Mapping[str, str], participant_id: str, kommunkod: str) -> str:
    """The id a municipality's stream shows the participant under (shared/audience.py)."""
    pseudonyms = AudiencePseudonyms(env["INSATS_AUDIENCE_KEY"].encode())
    return pseudonyms.shown(audience.municipality(kommunkod), participant_id)


def everything_stored(documents: Iterable[dict[str, Any]]) -> str:
    return json.dumps(list(documents), default=str)


async def insats(env: dict[str, str], *args: str, exit_code: int = 0) -> str:
    """Run the `insats` command as an operator would, against the test's stack, and return what
    it printed; it must exit with `exit_code`."""
    completed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "scripts", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == exit_code, completed.stdout + completed.stderr
    return completed.stdout
