"""What the guarantees assume of the database server, checked on the server the local stack runs
(secantusd-rs by default, secantusd-py as the fallback), not taken on trust from LOCAL_STACK.md:
acknowledged writes survive kill -9, a transaction is all or nothing, a duplicate key aborts it,
concurrent writers to one document conflict with a retryable label, and write concerns are
accepted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern

from scripts.stack import Stack
from shared.settings import Settings

DURABLE = WriteConcern(w="majority", j=True)


Client = AsyncMongoClient[dict[str, Any]]
Database = AsyncDatabase[dict[str, Any]]


def _client(settings: Settings) -> Client:
    return AsyncMongoClient(
        settings.mongodb_url.get_secret_value(),
        serverSelectionTimeoutMS=2_000,
        connectTimeoutMS=2_000,
        socketTimeoutMS=5_000,
        retryWrites=False,
    )


async def test_acknowledged_writes_survive_kill_9_of_the_database_server(
    settings: Settings, local_stack: Stack
) -> None:
    client = _client(settings)
    single = client[f"{settings.database_prefix}_durability"].get_collection(
        "single", write_concern=DURABLE
    )
    batched = client[f"{settings.database_prefix}_durability"].get_collection(
        "batched", write_concern=DURABLE
    )
    acknowledged_single: list[int] = []
    acknowledged_batched: list[int] = []

    async def write_until_refused() -> None:
        n = 0
        while True:
            try:
                await single.insert_one({"_id": n})
                acknowledged_single.append(n)
                async with (
                    client.start_session() as session,
                    await session.start_transaction(write_concern=DURABLE),
                ):
                    await batched.insert_many(
                        [{"_id": n * 10 + k} for k in range(10)], session=session
                    )
                acknowledged_batched.extend(n * 10 + k for k in range(10))
            except PyMongoError:
                return
            n += 1

    writer = asyncio.create_task(write_until_refused())
    await asyncio.sleep(1.5)
    server = local_stack.mongo.server_name
    local_stack.mongo.process.kill()  # kill -9, in the middle of the writes
    await asyncio.wait_for(writer, timeout=30)
    await client.close()
    await local_stack.start()

    client = _client(settings)
    try:
        database = client[f"{settings.database_prefix}_durability"]
        present_single = {doc["_id"] async for doc in database["single"].find({}, {"_id": 1})}
        present_batched = {doc["_id"] async for doc in database["batched"].find({}, {"_id": 1})}
        # Every transaction is there whole or not at all.
        groups = {n // 10 for n in present_batched}
        assert all({g * 10 + k for k in range(10)} <= present_batched for g in groups)
    finally:
        await client.drop_database(f"{settings.database_prefix}_durability")
        await client.close()
    assert len(acknowledged_single) > 20, f"{server}: too few writes to show anything"
    lost_single = set(acknowledged_single) - present_single
    lost_batched = set(acknowledged_batched) - present_batched
    print(
        f"{server}: {len(acknowledged_single)} inserts and {len(acknowledged_batched) // 10} "
        f"transactions acknowledged before kill -9; lost {len(lost_single)} and "
        f"{len(lost_batched) // 10}"
    )
    assert not lost_single, f"{server} lost acknowledged inserts: {sorted(lost_single)[:10]}"
    assert not lost_batched, f"{server} lost acknowledged transactions"


@pytest.fixture
async def collections(settings: Settings) -> AsyncIterator[tuple[Client, Database]]:
    client = _client(settings)
    database = client.get_database(f"{settings.database_prefix}_semantics", write_concern=DURABLE)
    await database["docs"].insert_one({"_id": "counter", "n": 0})
    yield client, database
    await client.drop_database(database.name)
    await client.close()


async def test_a_failed_transaction_leaves_nothing_and_a_duplicate_key_aborts_it(
    collections: tuple[Client, Database],
) -> None:
    client, database = collections
    docs = database["docs"]
    await docs.insert_one({"_id": "taken"})

    async def insert_in_one_transaction(*ids: str, then_fail: bool = False) -> None:
        async with client.start_session() as session, await session.start_transaction():
            for one in ids:
                await docs.insert_one({"_id": one}, session=session)
            if then_fail:
                raise RuntimeError("the handler failed")

    with pytest.raises(DuplicateKeyError):
        await insert_in_one_transaction("new-in-tx", "taken")
    assert await docs.find_one({"_id": "new-in-tx"}) is None
    with contextlib.suppress(RuntimeError):
        await insert_in_one_transaction("also-new", then_fail=True)
    assert await docs.find_one({"_id": "also-new"}) is None


async def test_concurrent_writers_to_one_document_conflict_with_a_retryable_label(
    collections: tuple[Client, Database],
) -> None:
    client, database = collections
    docs = database["docs"]
    first = client.start_session()
    second = client.start_session()
    async with first, second:
        await first.start_transaction(read_concern=ReadConcern("snapshot"))
        await second.start_transaction(read_concern=ReadConcern("snapshot"))
        await docs.update_one({"_id": "counter"}, {"$inc": {"n": 1}}, session=first)
        conflict: OperationFailure | None = None
        try:
            await docs.update_one({"_id": "counter"}, {"$inc": {"n": 1}}, session=second)
            await second.commit_transaction()
        except OperationFailure as error:
            conflict = error
        await first.commit_transaction()
    assert conflict is not None, "two transactions both changed one document"
    assert conflict.has_error_label("TransientTransactionError") or conflict.code in {1, 112}
    assert await docs.find_one({"_id": "counter"}) == {"_id": "counter", "n": 1}


async def test_write_concerns_are_accepted(
    collections: tuple[Client, Database],
) -> None:
    _, database = collections
    for concern in (WriteConcern(w="majority", j=True), WriteConcern(w=1), WriteConcern(w=0)):
        await database.get_collection("docs", write_concern=concern).insert_one({"w": str(concern)})
    assert await database["docs"].count_documents({"w": {"$exists": True}}) >= 2
