"""Intake against the real broker and database: referrals in, enrolments and rejections out."""

from __future__ import annotations

import json
from datetime import date

from scripts.harness import Publisher, settings_for, wait_settled
from services.intake.personnummer import format_with_check
from shared.contracts import topics
from shared.contracts.tenants import Channel
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import (
    HALMSTAD,
    event,
    events_on,
    opened_dead_letters,
    publish,
    running,
    tenant_topic,
)
from tests.unit.factories import programme, referral

ENROLLED = "insats.participant.enrolled.v1"
REJECTED = "insats.referral.rejected.v1"


async def test_referrals_are_enrolled_or_rejected_with_reasons(
    env: dict[str, str], settings: Settings
) -> None:
    alice = format_with_check(date(1990, 5, 17), 234)
    bob = format_with_check(date(1984, 11, 2), 551)
    valid = [
        referral(referral_id="1380-1", personnummer=alice),
        referral(referral_id="1380-2", personnummer=bob, income_support=True),
    ]
    invalid_pnr = referral(
        referral_id="1380-3", personnummer=alice[:-1] + str((int(alice[-1]) + 1) % 10)
    )
    too_old = referral(referral_id="1380-4", personnummer=format_with_check(date(1950, 1, 1), 10))
    unknown_programme = referral(
        referral_id="1380-5",
        programme_id="no-such-programme",
        personnummer=format_with_check(date(1999, 1, 1), 20),
    )
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(
            settings, *(event(r) for r in [*valid, invalid_pnr, too_old, unknown_programme])
        )
        async with Publisher(settings) as raw:
            await raw.send_raw(
                tenant_topic(Channel.REFERRALS), b'{"type": "insats.refer', b"1380-6"
            )
            await raw.flush()
        await wait_settled(settings, services=["intake"])

    enrolled = await events_on(settings, topics.INTAKE_EVENTS, ENROLLED)
    rejected = {
        e["data"]["referral_id"]: e["data"]
        for e in await events_on(settings, topics.INTAKE_EVENTS, REJECTED)
    }
    assert sorted(e["data"]["referral_id"] for e in enrolled) == ["1380-1", "1380-2"]
    assert all(e["data"]["participant_id"].startswith("p-") for e in enrolled)
    assert rejected["1380-3"]["reason"] == "INVALID_PERSONNUMMER"
    assert rejected["1380-4"]["reason"] == "AGE_OUT_OF_RANGE"
    assert rejected["1380-4"]["rule"] == "eligibility.age"
    assert rejected["1380-5"]["reason"] == "UNKNOWN_PROGRAMME"
    assert rejected["1380-6"]["reason"] == "INVALID_JSON"
    assert rejected["1380-6"]["message_sv"]

    # Bad input is dead-lettered with its original bytes (sealed: opened with the master key);
    # an ineligible person is not bad input.
    dead = {
        key: (value, headers) for key, value, headers in await opened_dead_letters(env, settings)
    }
    assert sorted(k.decode() for k in dead if k) == ["1380-3", "1380-5", "1380-6"]
    value, headers = dead[b"1380-6"]
    assert value == b'{"type": "insats.refer'
    assert headers["insats-dlq-code"] == b"INVALID_JSON"
    assert headers["insats-dlq-origin"].startswith(
        settings.topic(tenant_topic(Channel.REFERRALS)).encode()
    )


async def test_no_personnummer_leaves_intake_in_events_or_other_collections(
    env: dict[str, str], settings: Settings
) -> None:
    numbers = [format_with_check(date(1980 + n, 2, 3), 100 + n) for n in range(5)]
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(
            settings,
            *(
                event(referral(referral_id=f"r-{n}", personnummer=pnr))
                for n, pnr in enumerate(numbers)
            ),
        )
        await wait_settled(settings, services=["intake"])
    published = json.dumps(await events_on(settings, topics.INTAKE_EVENTS))
    client = mongo_client(settings)
    try:
        db = client[settings.database_name("intake")]
        stored = {
            name: await db[name].find({}).to_list()
            for name in ("participants", "referrals", "outbox")
        }
    finally:
        await client.close()
    for number in numbers:
        for form in (number, number[2:], f"{number[2:8]}-{number[8:]}"):
            assert form not in published
            for documents in stored.values():
                assert form not in json.dumps(documents, default=str)


async def test_the_same_person_referred_by_two_municipalities_is_one_participant(
    env: dict[str, str], settings: Settings
) -> None:
    kalmar_programme = programme(programme_id="kalmar", municipalities=["0880", "0882"])
    number = format_with_check(date(1995, 8, 8), 808)
    async with running("intake", env):
        await publish(settings, event(kalmar_programme, municipality="0880"))
        await wait_settled(settings, services=["intake"])
        await publish(
            settings,
            event(
                referral(
                    referral_id="0880-1",
                    programme_id="kalmar",
                    municipality="0880",
                    personnummer=number,
                ),
                "0880",
            ),
            event(
                referral(
                    referral_id="0882-1",
                    programme_id="kalmar",
                    municipality="0882",
                    personnummer=f"{number[2:8]}-{number[8:]}",
                ),
                "0882",
            ),
        )
        await wait_settled(settings, services=["intake"])
    enrolled = await events_on(settings, topics.INTAKE_EVENTS, ENROLLED)
    rejected = await events_on(settings, topics.INTAKE_EVENTS, REJECTED)
    assert len(enrolled) == 1
    assert [r["data"]["reason"] for r in rejected] == ["ALREADY_ENROLLED"]


async def test_a_redelivered_referral_changes_nothing(
    env: dict[str, str], settings: Settings
) -> None:
    once = event(referral())
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(settings, once, once, once)
        await wait_settled(settings, services=["intake"])
    assert len(await events_on(settings, topics.INTAKE_EVENTS)) == 1


async def test_the_referral_topics_keep_clear_identities_only_briefly(
    env: dict[str, str], settings: Settings
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from shared.messaging.kafka import client_kwargs

    short = {**env, "INSATS_REFERRAL_RETENTION_HOURS": "24"}
    async with running("intake", short), Publisher(settings_for(short)) as onboarding:
        # A municipality's referral topic, as onboarding creates it.
        referrals = await onboarding.tenant_topic(HALMSTAD, Channel.REFERRALS)
    admin = AIOKafkaAdminClient(**client_kwargs(settings_for(env)))
    await admin.start()
    try:
        described = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, name)
                for name in (referrals, settings.topic(topics.dead_letter_topic("intake")))
            ]
        )
    finally:
        await admin.close()
    configs = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in described
        for resource in response.resources
    }
    day = str(24 * 3_600_000)
    for name in configs:
        assert configs[name]["retention.ms"] == day, name
        # Segments roll hourly: a quiet topic's last records expire on time too.
        assert configs[name]["segment.ms"] == str(3_600_000), name
    # The broker, not the sender, stamps the time a referral was received, and bounds its size.
    assert configs[referrals]["message.timestamp.type"] == "LogAppendTime"
    assert configs[referrals]["max.message.bytes"] == str(settings.inbound_max_message_bytes)
