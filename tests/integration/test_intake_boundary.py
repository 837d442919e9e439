"""Each single message the issue found stopping intake or misleading it, sent on a municipality's
own referral topic to the real service: every one ends answered or dead-lettered with its reason,
nothing is parked unpublished, and a valid referral sent after them all is enrolled."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from scripts.harness import Publisher, wait_settled
from services.intake.personnummer import format_with_check
from shared.business_day import day_in_sweden
from shared.contracts import topics
from shared.contracts.registry import encode_event
from shared.contracts.tenants import Channel
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import HALMSTAD, event, events_on, publish, raw_records, running
from tests.unit.factories import programme, referral

_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


async def test_no_single_referral_stops_intake_or_gets_past_the_bounds(
    env: dict[str, str], settings: Settings
) -> None:
    # Intake dates a referral's receipt in Sweden, whatever the machine's zone.
    today = day_in_sweden(datetime.now(UTC))
    minor_until_tomorrow = format_with_check(today - timedelta(days=18 * 365 + 3), 11)
    valid_number = format_with_check(date(1984, 7, 1), 45)
    strict = {**env, "INSATS_REFERRAL_MAX_AGE_DAYS": "90"}
    recent = programme(
        period_start=today - timedelta(days=365), period_end=today + timedelta(days=365)
    )

    def as_json(**changes: object) -> bytes:
        return encode_event(event(referral(**{"referral_date": today, **changes})))

    spaced = json.loads(as_json(referral_id="x"))
    spaced["data"]["referral_id"] = spaced["subject"] = "1380 with a space"
    huge_correlation = json.loads(as_json(referral_id="1380-corr"))
    huge_correlation["correlationid"] = "c" * 100_000
    foreign_digits = json.loads(as_json(referral_id="1380-digits"))
    foreign_digits["data"]["municipality"] = "1380".translate(_ARABIC_INDIC)
    inputs: dict[str, tuple[bytes, bytes]] = {
        "spaced": (b"1380 with a space", json.dumps(spaced).encode()),
        "correlation": (b"1380-corr", json.dumps(huge_correlation).encode()),
        "nested": (b"1380-nested", b'{"data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
        "digits": (b"1380-digits", json.dumps(foreign_digits).encode()),
        "pnr-digits": (
            b"1380-pnr",
            as_json(referral_id="1380-pnr", personnummer=valid_number.translate(_ARABIC_INDIC)),
        ),
        "future": (
            b"1380-future",
            as_json(referral_id="1380-future", referral_date=today + timedelta(days=3)),
        ),
        "minor": (
            b"1380-minor",
            # 17 today, 18 on the date given: the age is reckoned on the day of receipt.
            as_json(
                referral_id="1380-minor",
                personnummer=minor_until_tomorrow,
                referral_date=today + timedelta(days=1),
            ),
        ),
        "old": (
            b"1380-old",
            as_json(referral_id="1380-old", referral_date=today - timedelta(days=120)),
        ),
    }
    async with running("intake", strict) as runtime:
        await publish(settings, event(recent))
        await wait_settled(settings, services=["intake"])
        async with Publisher(settings) as publisher:
            topic = await publisher.tenant_topic(HALMSTAD, Channel.REFERRALS)
            for key, value in inputs.values():
                await publisher.producer.send(topic, value, key=key)
            await publisher.flush()
            await publisher.send(
                event(
                    referral(referral_id="1380-ok", personnummer=valid_number, referral_date=today)
                )
            )
            await publisher.flush()
        await wait_settled(settings, services=["intake"])
        ready, checks = await runtime.ready()
    assert ready, checks

    enrolled = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    assert [e["data"]["referral_id"] for e in enrolled] == ["1380-ok"]
    rejected = {
        e["subject"]: e
        for e in await events_on(settings, topics.INTAKE_EVENTS, "insats.referral.rejected.v1")
    }
    # Every answer goes to the sending municipality, and fits the contract (the relay sent it).
    assert all(e["municipality"] == "1380" for e in rejected.values()), rejected
    reasons = {key: e["data"]["reason"] for key, e in rejected.items()}
    assert reasons["1380-corr"] == "SCHEMA_VIOLATION"
    assert reasons["1380-nested"] == "INVALID_JSON"
    assert reasons["1380-digits"] == "SCHEMA_VIOLATION"
    assert reasons["1380-pnr"] == "INVALID_PERSONNUMMER"
    assert reasons["1380-future"] == "REFERRAL_DATE_OUT_OF_RANGE"
    assert reasons["1380-minor"] == "AGE_OUT_OF_RANGE"
    assert reasons["1380-old"] == "REFERRAL_DATE_OUT_OF_RANGE"
    # The id with a space does not fit the contract: the answer names the record instead.
    [spaced_answer] = [key for key in reasons if key.endswith(":0") or ":" in key]
    assert reasons[spaced_answer] == "SCHEMA_VIOLATION"
    # No answer repeats what was sent: no correlation id of 100,000 characters travels on.
    assert all(len(e.get("correlationid") or "") <= 128 for e in rejected.values())
    letters = await raw_records(settings, topics.dead_letter_topic("intake"))
    assert {headers["insats-dlq-code"] for _, _, headers in letters} == {
        b"SCHEMA_VIOLATION",
        b"INVALID_JSON",
        b"INVALID_PERSONNUMMER",
    }
    client = mongo_client(settings)
    try:
        assert (
            await client[settings.database_name("intake")]["outbox_parked"].count_documents({}) == 0
        )
        ends = (
            await client[settings.database_name("intake")]["inbox"]
            .find({"origin": {"$regex": "referrals"}})
            .to_list()
        )
    finally:
        await client.close()
    assert len(ends) == len(inputs) + 1, "an input without an end"


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
async def test_a_header_key_that_is_not_utf8_stops_no_partition(
    env: dict[str, str], settings: Settings
) -> None:
    """kcat sends header keys byte for byte: one that is not UTF-8 once stopped the partition
    for good (aiokafka decodes keys strictly). Now the record is read, and the one after it."""
    first, second = (
        referral(referral_id=f"1380-h{n}", personnummer=format_with_check(date(1980, 2, n), 60 + n))
        for n in (1, 2)
    )
    async with running("intake", env) as runtime:
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        async with Publisher(settings) as publisher:
            topic = await publisher.tenant_topic(HALMSTAD, Channel.REFERRALS)
        for data in (first, second):
            produced = subprocess.run(  # noqa: ASYNC221 - a short, bounded call in a test
                [
                    b"kcat",
                    b"-P",
                    b"-b",
                    settings.kafka_bootstrap_servers.encode(),
                    b"-t",
                    topic.encode(),
                    b"-k",
                    data.referral_id.encode(),
                    b"-H",
                    b"\xff\xfe-not-utf8=1",
                ],
                input=encode_event(event(data)),
                capture_output=True,
                check=False,
                timeout=30,
            )
            assert produced.returncode == 0, produced.stderr
        await wait_settled(settings, services=["intake"])
        assert (await runtime.ready())[0]
    enrolled = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    assert sorted(e["data"]["referral_id"] for e in enrolled) == ["1380-h1", "1380-h2"]
