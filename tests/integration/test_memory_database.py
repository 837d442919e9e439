"""The in-memory database against the real server: the same random sequences of the operations
the stores use, applied to both, must give the same answers and leave the same documents."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import UpdateOne

from shared.memory_database import MemoryCollection, MemoryDatabase
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings

IDS = [f"j{i}" for i in range(8)]
PEOPLE = [f"p{i}" for i in range(4)]
PROGRAMMES = ["kalmar", "malmo"]
POINTS = ["at_exit", "6m", "12m"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _day(rng: random.Random) -> str:
    return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _moment(rng: random.Random) -> datetime:
    # Whole milliseconds: what BSON keeps of a datetime.
    return EPOCH + timedelta(milliseconds=rng.randint(0, 10**9))


def _upsert(rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """Like the journeys' and follow-ups' updates: fields set by different events, the earliest
    and latest dates kept, defaults set only when the document is created."""
    day = _day(rng)
    update: dict[str, Any] = {
        "$set": {
            "participant_id": rng.choice(PEOPLE),
            "programme_id": rng.choice(PROGRAMMES),
            f"placements.pl{rng.randint(0, 2)}.start_date": day,
        },
        "$min": {"first": day},
        "$max": {"last": day},
        "$setOnInsert": {"open": True, "emitted": False},
    }
    if rng.random() < 0.3:
        update["$set"]["point"] = rng.choice(POINTS)
        update["$set"]["due"] = _day(rng)
    elif rng.random() < 0.2:
        update["$unset"] = {"due": ""}
    return {"_id": rng.choice(IDS)}, update


def _step(rng: random.Random) -> tuple[str, tuple[Any, ...]]:
    kind = rng.randrange(10)
    if kind <= 2:
        return "upsert", _upsert(rng)
    if kind == 3:
        return "bulk", tuple(_upsert(rng) for _ in range(rng.randint(1, 4)))
    if kind == 4:
        return "inc", ({"_id": rng.choice(IDS)}, {"$inc": {"count": rng.randint(1, 3)}})
    if kind == 5:
        people = rng.sample(PEOPLE, rng.randint(1, 3))
        query = {"participant_id": {"$in": people}, "open": True}
        return "close", (query, {"$set": {"open": False, "withdrawn": True}})
    if kind == 6:
        return "delete", ({"_id": rng.choice(IDS)},)
    if kind == 7:
        mark = {"_id": f"mark{rng.randint(0, 3)}"}
        return "upsert", (mark, {"$set": {"until": _moment(rng)}})
    if kind == 8:
        return "forget", ({"until": {"$lt": _moment(rng)}},)
    asked = [
        {"programme_id": programme, "point": {"$in": rng.sample(POINTS, 2)}}
        for programme in PROGRAMMES
    ]
    return "count", ({"open": True, "due": {"$lte": _day(rng)}, "$or": asked},)


async def _apply(collection: Any, kind: str, arguments: tuple[Any, ...]) -> object:
    """The step on either collection; what it answers, in a form both give alike."""
    if kind in ("upsert", "inc"):
        result = await collection.update_one(*arguments, upsert=True)
        return (result.matched_count, result.modified_count)
    if kind == "bulk":
        requests = [UpdateOne(query, update, upsert=True) for query, update in arguments]
        result = await collection.bulk_write(requests, ordered=True)
        return (result.matched_count, result.modified_count, result.upserted_count)
    if kind == "close":
        result = await collection.update_many(*arguments)
        return (result.matched_count, result.modified_count)
    if kind in ("delete", "forget"):
        method = collection.delete_one if kind == "delete" else collection.delete_many
        return (await method(*arguments)).deleted_count
    withdrawn = await collection.find(
        {"participant_id": {"$in": PEOPLE[:2]}, "withdrawn": True}, {"participant_id": 1}
    ).to_list()
    return (
        await collection.count_documents(*arguments),
        sorted((d["_id"], d["participant_id"]) for d in withdrawn),
    )


@pytest.fixture
async def server_collection(settings: Settings) -> AsyncIterator[Any]:
    client = mongo_client(settings)
    database = ServiceDatabase(client, settings, "conformance")
    await client.drop_database(database.db.name)
    collection = database.collection("documents")
    await collection.create_index([("participant_id", 1)])
    try:
        yield collection
    finally:
        await client.drop_database(database.db.name)
        await client.close()


@pytest.mark.parametrize("seed", range(6))
async def test_random_store_operations_give_what_the_server_gives(
    server_collection: Any, settings: Settings, seed: int
) -> None:
    rng = random.Random(seed)
    memory: MemoryCollection = MemoryDatabase(settings, "conformance").memory_collection("d")
    await memory.create_index([("participant_id", 1)])
    kind, arguments = "upsert", _upsert(rng)
    for number in range(120):
        # Sometimes the same update again, as a replayed event: it matches and changes nothing.
        if not (kind == "upsert" and rng.random() < 0.2):
            kind, arguments = _step(rng)
        on_server = await _apply(server_collection, kind, arguments)
        in_memory = await _apply(memory, kind, arguments)
        assert in_memory == on_server, f"step {number}: {kind} {arguments}"
        if number % 20 == 19:
            server_documents = await server_collection.find({}).sort("_id", 1).to_list()
            memory_documents = await memory.find({}).sort("_id", 1).to_list()
            assert memory_documents == server_documents, f"after step {number}"
