"""Bookkeeping records are kept only as long as the deployment says: TTL indexes on the inbox,
the audit and intake's referral decisions, set from the settings on start, changed when a
setting changes, and honoured by the real database server."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from scripts.harness import wait_settled
from shared.expiry import ensure_expiry
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.support import event, publish, running
from tests.unit.factories import programme, referral

DAY = 86_400


async def _expiries(settings: Settings) -> dict[str, int | None]:
    """The expiry in seconds of each date index that can have one, in intake's database."""
    client = mongo_client(settings)
    try:
        db = client[settings.database_name("intake")]
        found: dict[str, int | None] = {}
        for collection, index in (
            ("inbox", "at_1"),
            ("audit", "at_1"),
            ("referrals", "decided_at_1"),
        ):
            spec = (await db[collection].index_information()).get(index)
            found[collection] = spec.get("expireAfterSeconds", -1) if spec else None
        return found
    finally:
        await client.close()


async def test_retention_settings_become_ttl_indexes_and_follow_a_change(
    env: dict[str, str], settings: Settings
) -> None:
    kept = {
        **env,
        "INSATS_INBOX_RETENTION_DAYS": "45",
        "INSATS_AUDIT_RETENTION_DAYS": "1826",
        "INSATS_DECISION_RETENTION_DAYS": "1826",
    }
    async with running("intake", kept):
        await publish(settings, event(programme()), event(referral()))
        await wait_settled(settings, services=["intake"])
    assert await _expiries(settings) == {
        "inbox": 45 * DAY,
        "audit": 1826 * DAY,
        "referrals": 1826 * DAY,
    }
    client = mongo_client(settings)
    try:
        [decision] = await client[settings.database_name("intake")]["referrals"].find().to_list()
        assert decision["decided_at"] > datetime.now(UTC) - timedelta(minutes=5)
    finally:
        await client.close()

    shorter = {**kept, "INSATS_INBOX_RETENTION_DAYS": "35"}
    del shorter["INSATS_AUDIT_RETENTION_DAYS"], shorter["INSATS_DECISION_RETENTION_DAYS"]
    async with running("intake", shorter):
        pass
    # The audit keeps a plain index on its date, for reading it by time; -1: no expiry.
    assert await _expiries(settings) == {"inbox": 35 * DAY, "audit": -1, "referrals": None}


async def test_the_database_server_deletes_what_has_expired(settings: Settings) -> None:
    client = mongo_client(settings)
    try:
        db = client[settings.database_name("intake")]
        now = datetime.now(UTC)
        for collection, field in (("inbox", "at"), ("audit", "at"), ("referrals", "decided_at")):
            await ensure_expiry(db[collection], field, timedelta(seconds=1))
            await db[collection].insert_many(
                [
                    {"_id": "expired", field: now - timedelta(hours=1)},
                    {"_id": "undated"},  # no date: never expires
                ]
            )
        # The local stack's Rust server sweeps every 5 s (INSATS_STACK_MONGO_TTL_SWEEP_SECONDS);
        # the Python fallback, as MongoDB, about once a minute.
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            left = [
                name
                for name in ("inbox", "audit", "referrals")
                if await db[name].find_one({"_id": "expired"})
            ]
            if not left:
                break
            await asyncio.sleep(2)
        assert not left, f"still there after the deadline: {left}"
        for name in ("inbox", "audit", "referrals"):
            assert await db[name].find_one({"_id": "undated"})
    finally:
        await client.close()
