"""The examples in examples/ run as a partner's and a municipality's developer would run them,
against the three services as processes: referrals published with the kcat script and with the
Python publisher, the partner consumer as its own process keeping its roster and reporting back.
Nothing on the examples' side imports Insats code."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner
from jsonschema import Draft202012Validator

from scripts.harness import Namespace, Platform, ensure_home_topics, read_topic, wait_settled
from services.intake.personnummer import format_with_check
from shared import audience
from shared.audience import AudiencePseudonyms
from shared.contracts import topics
from shared.contracts.tenants import Tenant
from shared.luhn import organisationsnummer
from shared.messaging.kafka import client_kwargs, ensure_topics, read_records, topic_partitions
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import events_on

ROOT = Path(__file__).resolve().parents[2]
PARTNER_APP = ROOT / "examples" / "partner_consumer"
PUBLISHER = ROOT / "examples" / "municipal_publisher"
CONTRACT = ROOT / "docs" / "contract" / "schemas"
T = TypeVar("T")


# --- without the stack -------------------------------------------------------------------


def test_vendored_schemas_are_the_published_ones() -> None:
    vendored = sorted((PARTNER_APP / "partner_consumer" / "schemas").glob("*.json"))
    assert vendored
    for copy in vendored:
        # An additive change to the contract fails here: refresh the copy as its README says.
        assert json.loads(copy.read_text()) == json.loads((CONTRACT / copy.name).read_text()), (
            f"{copy.name} differs from docs/contract/schemas; copy it again"
        )


def test_examples_import_nothing_from_insats() -> None:
    for source in [*PARTNER_APP.rglob("*.py"), *PUBLISHER.rglob("*.py")]:
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in {"shared", "services", "scripts", "tests"}, (
                    f"{source.relative_to(ROOT)} imports {name}"
                )


def test_sample_referral_matches_the_schema() -> None:
    sample = json.loads((PUBLISHER / "referral.json").read_text())
    sample["id"] = str(uuid.uuid4())  # what both publishing scripts do
    schema = json.loads((CONTRACT / "insats.referral.received.v1.json").read_text())
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert [error.message for error in validator.iter_errors(sample)] == []
    assert sample["subject"] == sample["data"]["referral_id"]


# --- against the stack ---------------------------------------------------------------------


def envelope(kind: str, subject: str, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "type": kind,
            "source": "urn:kommun:1380",
            "time": datetime.now(UTC).isoformat(),
            "subject": subject,
            "municipality": "1380",
            "datacontenttype": "application/json",
            "data": data,
        }
    ).encode()


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 30.0
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        if (found := await probe()) is not None:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.25)


def example_env(settings: Settings, **extra: str) -> dict[str, str]:
    """What a partner or municipality would set: no INSATS_ settings of ours leak in."""
    outside = {k: v for k, v in os.environ.items() if not k.startswith("INSATS_")}
    return {
        **outside,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOPIC_PREFIX": settings.topic_prefix,
        **extra,
    }


def roster_rows(path: Path) -> dict[str, dict[str, Any]]:
    """The partner's own store, read as the partner would."""
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute("SELECT * FROM placements").fetchall()
        except sqlite3.OperationalError:  # the consumer has not created its tables yet
            return {}
    return {row["placement_id"]: dict(row) for row in rows}


def roster_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return count


@pytest.fixture
def partner_id(namespace: Namespace) -> str:
    # Unique per test: the example's consumer group is named after it, outside our group prefix,
    # so it is not shared with other runs on the same broker.
    return f"hemtjansten-{namespace.name}"


@pytest.fixture
async def partner_consumer(
    settings: Settings, partner_id: str, tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """The example as its own process, with AUTO_ACCEPT, run from its own folder on the
    repository's interpreter (which has faststream and jsonschema)."""
    # What the operator's onboarding does for a new partner. Placement would create the topic
    # with its first update, but a consumer that joined before that notices it only minutes later.
    await ensure_topics(settings, {settings.topic(f"insats.partner.{partner_id}.placements"): {}})
    roster = tmp_path / "roster.sqlite3"
    log_path = tmp_path / "partner_consumer.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "partner_consumer",
            "run",
            cwd=PARTNER_APP,
            env=example_env(
                settings,
                PYTHONPATH=str(PARTNER_APP),
                PARTNER_ID=partner_id,
                ROSTER_DB=str(roster),
                AUTO_ACCEPT="true",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process, roster
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()
        print(log_path.read_text()[-4000:])  # shown by pytest only when the test fails


async def publish_programme_partner_agreement(settings: Settings, partner_id: str) -> None:
    # The operator onboarded Halmstad and the partner: each has its own topics.
    await ensure_home_topics(
        settings,
        [*Tenant.municipality("1380").writes(), *Tenant.partner(partner_id).writes()],
    )
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic("insats.municipality.1380.programmes"),
            envelope(
                "insats.programme.defined.v1",
                "halmstad-150",
                {
                    "programme_id": "halmstad-150",
                    "name": "Halmstad 150",
                    "owner": "Halmstads kommun",
                    "municipalities": ["1380"],
                    "period_start": "2026-01-01",
                    "period_end": f"{date.today().year + 2}-12-31",
                    "capacity": 2,
                    "planned_participants": 2,
                    "priority": "remissdatum",
                    "activities": ["arbetstraning"],
                },
            ),
            key=b"halmstad-150",
        )
        for kind, data in (
            (
                "insats.partner.registered.v1",
                {
                    "partner_id": partner_id,
                    "organisationsnummer": organisationsnummer("212000138"),
                    "name": "Hemtjänsten Halmstad",
                    "kind": "kommunal_arbetsplats",
                    "municipality": "1380",
                    "workplaces": [
                        {
                            "workplace_id": "hemtjansten-oster",
                            "name": "Hemtjänsten Öster",
                            "municipality": "1380",
                            "activities": ["arbetstraning"],
                        }
                    ],
                },
            ),
            (
                "insats.agreement.signed.v1",
                {
                    "agreement_id": "hemtjansten-2026",
                    "partner_id": partner_id,
                    "programme_id": "halmstad-150",
                    "places": 2,
                    "kind": "kommunal",
                    "activities": ["arbetstraning"],
                    "workplace_id": "hemtjansten-oster",
                    "hours_per_week": 20,
                    "municipal_contact": "Anna Handläggare, 035-13 70 00",
                    "period_start": "2026-01-01",
                    "period_end": f"{date.today().year + 2}-12-31",
                },
            ),
        ):
            # Registration before agreement: one key, one partition, in this order.
            await producer.send_and_wait(
                settings.topic("insats.municipality.1380.partners"),
                envelope(kind, partner_id, data),
                key=partner_id.encode(),
            )
    finally:
        await producer.stop()


def referral_file(tmp_path: Path, referral_id: str, personnummer: str, consents: list[str]) -> Path:
    """The shipped sample, with this test's referral id, person and consents."""
    referral = json.loads((PUBLISHER / "referral.json").read_text())
    referral["subject"] = referral["data"]["referral_id"] = referral_id
    referral["data"]["personnummer"] = personnummer
    referral["data"]["consents"] = consents
    path = tmp_path / f"{referral_id}.json"
    path.write_text(json.dumps(referral, indent=2))  # pretty-printed, as kcat's users keep it
    return path


async def run(*command: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def partitions_of(settings: Settings, topic: str) -> dict[bytes, int]:
    """Each record key on a topic and the partition it is on."""
    return {r.key: r.partition for r in await read_records(settings, settings.topic(topic))}


async def group_caught_up(settings: Settings, group: str, topic: str) -> bool | None:
    name = settings.topic(topic)
    layout = await topic_partitions(settings, [name])
    partitions = [TopicPartition(name, p) for p in layout[name]]
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await consumer.stop()
        await admin.close()
    behind = sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions)
    return True if behind == 0 else None


async def test_examples_refer_place_and_report(
    platform: Platform,
    settings: Settings,
    partner_id: str,
    partner_consumer: tuple[asyncio.subprocess.Process, Path],
    tmp_path: Path,
) -> None:
    consumer, roster = partner_consumer
    placements_topic = f"insats.partner.{partner_id}.placements"
    await publish_programme_partner_agreement(settings, partner_id)
    await wait_settled(settings)  # the programme exists before its referrals arrive

    # Two residents of Halmstad: one consents to sharing their id with the partner (kcat), one
    # does not (the Python publisher). Both scripts wait for intake's answer.
    with_consent = referral_file(
        tmp_path, "1380-kcat-1", format_with_check(date(1990, 5, 17), 234), ["dela_med_partner"]
    )
    without_consent = referral_file(
        tmp_path, "1380-python-1", format_with_check(date(1985, 9, 1), 331), []
    )
    (kcat_code, kcat_out), (python_code, python_out) = await asyncio.gather(
        run(
            str(PUBLISHER / "publish_referral.sh"),
            str(with_consent),
            env=example_env(settings, WAIT_SECONDS="45"),
            cwd=PUBLISHER,
        ),
        run(
            sys.executable,
            str(PUBLISHER / "publish_referral.py"),
            str(without_consent),
            "--wait",
            "45",
            env=example_env(settings),
            cwd=PUBLISHER,
        ),
    )
    assert (kcat_code, python_code) == (0, 0), kcat_out + python_out
    assert "enrolled:" in kcat_out
    assert "enrolled: participant" in python_out

    enrolled = {
        e["data"]["referral_id"]: e["data"]["participant_id"]
        for e in await events_on(settings, "insats.intake.events", "insats.participant.enrolled.v1")
    }
    assert set(enrolled) == {"1380-kcat-1", "1380-python-1"}
    sharing, private = enrolled["1380-kcat-1"], enrolled["1380-python-1"]
    # kcat's murmur2_random put its key where the Java and Python clients would.
    keys = await partitions_of(settings, "insats.municipality.1380.referrals")
    count = len(
        await topic_partitions(settings, [settings.topic("insats.municipality.1380.referrals")])
    )
    for key in (b"1380-kcat-1", b"1380-python-1"):
        assert keys[key] == DefaultPartitioner()(key, list(range(count)), list(range(count)))

    async def offers() -> dict[str, dict[str, Any]] | None:
        found = await events_on(settings, "insats.placement.events", "insats.placement.offered.v1")
        by_participant = {o["data"]["participant_id"]: o["data"] for o in found}
        return by_participant if len(by_participant) == 2 else None

    offered = await eventually(offers, "both referrals offered a place")
    assert {o["partner_id"] for o in offered.values()} == {partner_id}

    # The partner accepts and starts both itself; the one it may not name, by placement id.
    async def both_started() -> dict[str, dict[str, Any]] | None:
        rows = roster_rows(roster)
        started = all(row["status"] == "pagar" for row in rows.values())
        return rows if len(rows) == 2 and started else None

    rows = await eventually(both_started, "both placements started in the partner's roster")
    # Under the partner's own id for the participant (shared/audience.py), not the internal one.
    assert settings.audience_key is not None
    seen = AudiencePseudonyms(settings.audience_key.get_secret_value().encode())
    shown_sharing = seen.shown(audience.partner(partner_id), sharing)
    assert rows[offered[sharing]["placement_id"]]["participant_id"] == shown_sharing
    assert rows[offered[private]["placement_id"]]["participant_id"] is None
    assert rows[offered[sharing]["placement_id"]]["hours_per_week"] == 20

    # A week with 5 of 20 hours attended, reported with the example's command.
    code, output = await run(
        sys.executable,
        "-m",
        "partner_consumer",
        "report-attendance",
        "--hours",
        "5",
        "--week",
        date.today().isoformat(),
        env=example_env(
            settings,
            PYTHONPATH=str(PARTNER_APP),
            PARTNER_ID=partner_id,
            ROSTER_DB=str(roster),
        ),
        cwd=PARTNER_APP,
    )
    assert code == 0, output
    assert output.count("5.0 of 20 h") == 2, output

    async def at_risk() -> dict[str, dict[str, Any]] | None:
        found = await events_on(settings, "insats.placement.events", "insats.placement.at-risk.v1")
        risks = {r["data"]["participant_id"]: r["data"] for r in found}
        return risks if len(risks) == 2 else None

    risks = await eventually(at_risk, "low attendance made both placements at risk")
    assert risks[sharing]["placement_id"] == offered[sharing]["placement_id"]
    # Reported without a participant id, yet placement knew whose placement it was.
    assert risks[private]["placement_id"] == offered[private]["placement_id"]
    client = mongo_client(settings)
    try:
        stored = await client[settings.database_name("placement")]["placements"].find_one(
            {"_id": offered[sharing]["placement_id"]}
        )
    finally:
        await client.close()
    assert stored is not None
    assert [(a["expected_hours"], a["attended_hours"]) for a in stored["attendance"]] == [(20, 5)]

    # A record delivered twice (a producer retry, a restart before the commit) changes nothing:
    # the first offer, sent again, neither turns the placement back into an offer nor makes the
    # example accept it a second time.
    first_offer = next(
        (key, value)
        for key, value, _ in await read_topic(settings, placements_topic)
        if json.loads(value)["data"]["status"] == "erbjuden"
        and json.loads(value)["data"]["participant_id"] == shown_sharing
    )
    again = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await again.start()
    try:
        await again.send_and_wait(settings.topic(placements_topic), first_offer[1], first_offer[0])
    finally:
        await again.stop()

    async def caught_up() -> bool | None:
        return await group_caught_up(settings, f"partner-{partner_id}.roster", placements_topic)

    await eventually(caught_up, "the partner consumer committed everything")
    assert roster_rows(roster)[offered[sharing]["placement_id"]]["status"] == "pagar"
    stream = [json.loads(value) for _, value, _ in await read_topic(settings, placements_topic)]
    updates = [u for u in stream if u["type"] == "insats.partner-placement.updated.v1"]
    assert len(updates) == len({u["id"] for u in updates}) + 1
    assert roster_count(roster, "applied_events") == len({u["id"] for u in updates})
    # Five of twenty hours attended, none excused: the placement is at risk, and the support
    # task reaches the partner of the participant who consented; the example, which does not
    # handle it, passes over it as a type that is not for it.
    notices = [u for u in stream if u["type"] == "insats.partner-support.notice.v1"]
    assert [(n["data"]["participant_id"], n["data"]["reason"]) for n in notices] == [
        (shown_sharing, "franvaro")
    ]
    await wait_settled(settings)
    reports = await events_on(settings, f"insats.partner.{partner_id}.placement-reports")
    about_sharing = sorted(
        (r["type"], r["data"].get("action", "")) for r in reports if r["subject"] == shown_sharing
    )
    assert about_sharing == [
        ("insats.attendance.reported.v1", ""),
        ("insats.placement.change-reported.v1", "acceptera"),
        ("insats.placement.change-reported.v1", "starta"),
    ]
    started = await events_on(settings, "insats.placement.events", "insats.placement.started.v1")
    assert {s["data"]["participant_id"] for s in started} == {sharing, private}
    # Nothing the examples sent was refused, and nothing they read was unreadable to them.
    assert await read_topic(settings, topics.dead_letter_topic("placement")) == []
    assert await read_topic(settings, topics.dead_letter_topic("intake")) == []
    assert roster_count(roster, "rejected") == 0
    assert roster_count(roster, "outbox") == 6  # accept, start, attendance; for each of two

    # The same person referred again is answered with a rejection, found here on the
    # municipality's own stream, which is what a municipality's Kafka user may read.
    code, output = await run(
        sys.executable,
        str(PUBLISHER / "publish_referral.py"),
        str(without_consent),
        "--wait",
        "30",
        "--answers-from",
        "municipality",
        env=example_env(settings),
        cwd=PUBLISHER,
    )
    assert (code, output.splitlines()[-1]) == (2, "rejected: ALREADY_ENROLLED"), output

    consumer.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(consumer.wait(), timeout=20) == 0
