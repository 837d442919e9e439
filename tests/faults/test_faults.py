"""Fault tests: several thousand referrals through all three services while things break.

After each fault the accounting must be exact: every valid referral enrolled once, placed or
waiting once, one journey in outcomes; every poison message in the dead-letter topic with its
reason; nothing else dead-lettered; nothing lost. The figures are printed (run with -s to see)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scripts.harness import Platform, Publisher, read_topic, wait_settled
from scripts.stack import Stack
from shared.contracts import topics
from shared.contracts.tenants import Channel
from shared.settings import Settings
from tests.faults.stream import (
    Fault,
    Figures,
    Stream,
    account,
    assert_exact,
    build_stream,
    publish_stream,
    scrape_duplicates,
    set_up,
)
from tests.support import platform_running, tenant_topic


@pytest.fixture
async def platform(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> AsyncIterator[Platform]:
    six_partitions = {**env, "INSATS_TOPIC_PARTITIONS": "6"}
    async with platform_running(six_partitions, tmp_path / "logs", clean_exit=False) as running:
        yield running


@pytest.fixture(scope="module")
def stream() -> Stream:
    return build_stream()


async def _finish(
    name: str,
    platform: Platform,
    settings: Settings,
    stream: Stream,
    sent: int,
    duplicates: float = 0.0,
) -> Figures:
    await wait_settled(settings, timeout=300, quiet_for=2.0)
    figures = await account(settings, stream, sent, duplicates + scrape_duplicates(platform))
    print(figures.line(name))
    assert_exact(figures, stream)
    return figures


async def test_kill_9_of_each_service_mid_stream_loses_and_doubles_nothing(
    platform: Platform, settings: Settings, stream: Stream
) -> None:
    await set_up(settings, stream)
    skipped = 0.0

    def crash(service: str) -> Fault:
        async def fault() -> None:
            nonlocal skipped
            skipped += scrape_duplicates(platform)
            platform.services[service].kill()
            await asyncio.sleep(0.5)
            platform.start(service)
            await platform.wait_ready(service)

        return fault

    sent = await publish_stream(
        settings,
        stream.records(),
        {
            0.25: crash("intake"),
            0.5: crash("placement"),
            0.75: crash("outcomes"),
        },
    )
    await _finish("kill -9", platform, settings, stream, sent, skipped)


async def test_a_broker_restart_mid_stream_loses_and_doubles_nothing(
    platform: Platform, settings: Settings, stream: Stream, local_stack: Stack
) -> None:
    await set_up(settings, stream)

    async def restart_broker() -> None:
        await asyncio.to_thread(local_stack.kafka.stop)
        await asyncio.sleep(2)
        await local_stack.start()

    sent = await publish_stream(settings, stream.records(), {0.4: restart_broker})
    await _finish("broker restart", platform, settings, stream, sent)


async def test_a_database_crash_mid_stream_loses_and_doubles_nothing(
    platform: Platform, settings: Settings, stream: Stream, local_stack: Stack
) -> None:
    await set_up(settings, stream)

    async def crash_database() -> None:
        local_stack.mongo.process.kill()  # kill -9: acknowledged writes must survive it
        await asyncio.sleep(2)
        await local_stack.start()

    sent = await publish_stream(settings, stream.records(), {0.4: crash_database})
    await _finish("database kill -9", platform, settings, stream, sent)


async def test_duplicate_and_out_of_order_deliveries_change_nothing(
    platform: Platform, settings: Settings, stream: Stream
) -> None:
    await set_up(settings, stream)
    sent = await publish_stream(settings, stream.records(), {})
    await wait_settled(settings, timeout=300)
    rng = random.Random(11)
    # Redeliver a sample of referrals, shuffled, and of intake's own events, newest first.
    again = rng.sample(stream.records(), k=len(stream.records()) // 7)
    rng.shuffle(again)
    enrolled = [
        r
        for r in await read_topic(settings, topics.INTAKE_EVENTS)
        if json.loads(r[1])["type"] == "insats.participant.enrolled.v1"
    ]
    replayed = list(reversed(rng.sample(enrolled, k=len(enrolled) // 7)))
    async with Publisher(settings) as publisher:
        for topic, key, value in again:
            await publisher.send_raw(topic, value, key)
        for enrolled_key, value, _ in replayed:
            await publisher.send_raw(topics.INTAKE_EVENTS, value, enrolled_key)
        await publisher.flush()
    await wait_settled(settings, timeout=300)
    # The poison among the redelivered records is dead-lettered again: once per delivery, as it
    # should be. Count the stream's poison as delivered twice where it was.
    resent_poison = [p for p in stream.poison if (p[0], p[1], p[2]) in set(again)]
    doubled = Stream(stream.valid, stream.poison + resent_poison, stream.capacity)
    await _finish(
        "duplicates and out of order",
        platform,
        settings,
        doubled,
        sent + len(again) + len(replayed),
    )


async def test_poison_on_every_inbound_topic_is_dead_lettered_with_its_reason(
    platform: Platform, settings: Settings, stream: Stream
) -> None:
    await set_up(settings, stream)
    sent = await publish_stream(settings, stream.records(), {})
    programmes, partners, reports, outcome_reports = (
        tenant_topic(channel)
        for channel in (
            Channel.PROGRAMMES,
            Channel.PARTNERS,
            Channel.PLACEMENT_REPORTS,
            Channel.OUTCOME_REPORTS,
        )
    )
    garbage = {
        programmes: b"programme? no",
        partners: b'{"type": "insats.partner.registered.v1", "data": {}}',
        reports: b'{"type": "insats.unknown.v1"}',
        outcome_reports: b"\xff\xfe",
    }
    async with Publisher(settings) as publisher:
        for topic, value in garbage.items():
            await publisher.send_raw(topic, value, b"garbage")
        await publisher.flush()
    await wait_settled(settings, timeout=300)
    figures = await account(settings, stream, sent + len(garbage), scrape_duplicates(platform))
    print(figures.line("poison everywhere"))
    # Programmes and partners go to all three services: each dead-letters what it could not
    # read, with why.
    assert sorted(figures.other_dead_letters) == [
        ("intake", "INVALID_JSON", programmes),
        ("intake", "SCHEMA_VIOLATION", partners),
        ("outcomes", "INVALID_JSON", outcome_reports),
        ("outcomes", "INVALID_JSON", programmes),
        ("outcomes", "SCHEMA_VIOLATION", partners),
        ("placement", "INVALID_JSON", programmes),
        ("placement", "SCHEMA_VIOLATION", partners),
        ("placement", "UNKNOWN_EVENT_TYPE", reports),
    ]
    figures.other_dead_letters.clear()
    assert_exact(figures, stream)


async def test_sigterm_mid_stream_drains_within_the_grace_period(
    platform: Platform, settings: Settings, stream: Stream
) -> None:
    await set_up(settings, stream)
    grace = settings.shutdown_grace_seconds
    exits: dict[str, tuple[int | None, float]] = {}

    def stop(service: str) -> Fault:
        async def fault() -> None:
            started = time.monotonic()
            code = await asyncio.to_thread(platform.services[service].terminate, grace + 10)
            exits[service] = (code, time.monotonic() - started)
            platform.start(service)
            await platform.wait_ready(service)

        return fault

    sent = await publish_stream(
        settings,
        stream.records(),
        {
            0.3: stop("intake"),
            0.6: stop("placement"),
        },
    )
    figures = await _finish("SIGTERM", platform, settings, stream, sent)
    # A graceful stop commits what it applied and publishes what it wrote: nothing comes twice.
    assert figures.duplicates_skipped == 0
    for service, (code, seconds) in exits.items():
        assert code == 0, f"{service} exited with {code}"
        assert seconds < grace, f"{service} took {seconds:.1f} s of a {grace} s grace period"
