"""The feed on the real database with two gateway replicas storing one tenant's events at once:
every event once, numbered 1..n without a gap or a repeat, and a reader paging by number never
finds a lower number appear behind one it has passed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.gateway.feed_records import StreamRecord
from services.gateway.feed_store import FeedStore
from shared.contracts.tenants import Tenant
from shared.persistence import DURABLE, mongo_client
from shared.settings import Settings

HALMSTAD, HOTEL = Tenant.municipality("1380"), Tenant.partner("hotellet")


def _record(tenant: Tenant, event_id: uuid.UUID, offset: int) -> StreamRecord:
    value = json.dumps({"specversion": "1.0", "id": str(event_id), "data": {"n": offset}})
    return StreamRecord(tenant, event_id, "insats.resident-event.v1", value, f"t:0:{offset}")


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[FeedStore, FeedStore]]:
    """Two stores as two gateway processes have them: each its own client and sessions."""
    clients = [mongo_client(settings), mongo_client(settings)]
    stores = [
        FeedStore(c, c.get_database(settings.database_name("gateway"), write_concern=DURABLE))
        for c in clients
    ]
    await stores[0].ensure_indexes(timedelta(days=30))
    try:
        yield stores[0], stores[1]
    finally:
        for client in clients:
            await client.close()


async def test_two_replicas_number_one_tenants_events_once_each_without_gaps(
    replicas: tuple[FeedStore, FeedStore],
) -> None:
    first, second = replicas
    ids = [uuid.uuid4() for _ in range(120)]
    # Each replica has some partitions; a rebalance hands a few records to both.
    mine = [_record(HALMSTAD, i, n) for n, i in enumerate(ids) if n % 2 == 0 or n % 17 == 0]
    theirs = [_record(HALMSTAD, i, n) for n, i in enumerate(ids) if n % 2 == 1 or n % 17 == 0]
    hotel = [_record(HOTEL, uuid.uuid4(), n) for n in range(30)]
    seen: list[int] = []
    writing = True

    async def store(store: FeedStore, records: list[StreamRecord], size: int) -> None:
        for start in range(0, len(records), size):
            await store.append(records[start : start + size])

    async def read_along() -> None:
        after = 0
        while writing or after < len(ids):
            for entry in await first.page(HALMSTAD, after, 7):
                # Paging by number: exactly the next number, or the reader would skip one.
                assert entry.seq == after + 1, (entry.seq, after)
                seen.append(entry.seq)
                after = entry.seq
            await asyncio.sleep(0.005)

    reader = asyncio.create_task(read_along())
    await asyncio.gather(store(first, mine, 3), store(second, theirs, 5), store(second, hotel, 4))
    writing = False
    await asyncio.wait_for(reader, 30)

    entries = await first.page(HALMSTAD, 0, 500)
    assert [e.seq for e in entries] == list(range(1, len(ids) + 1))
    assert sorted(e.event_id for e in entries) == sorted(str(i) for i in ids)
    assert seen == list(range(1, len(ids) + 1))
    assert [e.seq for e in await second.page(HOTEL, 0, 500)] == list(range(1, 31))
    assert await first.heads([HALMSTAD, HOTEL, Tenant.owner("nobody")]) == {
        HALMSTAD: len(ids),
        HOTEL: 30,
        Tenant.owner("nobody"): 0,
    }


async def test_a_redelivered_event_is_not_a_second_entry(
    replicas: tuple[FeedStore, FeedStore],
) -> None:
    first, second = replicas
    event_id = uuid.uuid4()

    assert await first.append([_record(HALMSTAD, event_id, 1), _record(HALMSTAD, event_id, 2)]) == 1
    assert await second.append([_record(HALMSTAD, event_id, 3)]) == 0
    # The same id on another tenant's stream is that tenant's own event.
    assert await second.append([_record(HOTEL, event_id, 4)]) == 1

    [entry] = await first.page(HALMSTAD, 0, 10)
    assert (entry.seq, entry.event_id) == (1, str(event_id))
    assert json.loads(entry.value)["data"] == {"n": 1}
