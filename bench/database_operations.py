"""What each kind of write costs on the stack's MongoDB-protocol server, against a plain bulk
insert measured in the same run: the evidence behind the pipeline's optimisations (README,
"Performance").

    python -m bench.database_operations [--documents 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient, DeleteOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from scripts.stack import Stack

Doc = dict[str, object]


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def one_round(database: object, documents: int) -> dict[str, float]:
    """Each operation once, on fresh collections, timed."""
    db: Any = database
    collection: AsyncCollection[Doc] = db[uuid.uuid4().hex]
    indexed: AsyncCollection[Doc] = db[uuid.uuid4().hex]
    await indexed.create_index("batch")
    ids = [ObjectId() for _ in range(documents)]
    body = b"x" * 600  # about an event's size
    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        (
            "insert_many (baseline)",
            lambda: collection.insert_many([{"_id": i, "value": body} for i in ids]),
        ),
        (
            "insert_many, one more index",
            lambda: indexed.insert_many([{"_id": i, "value": body, "batch": 1} for i in ids]),
        ),
        ("find with $in", lambda: collection.find({"_id": {"$in": ids}}).to_list()),
        (
            "upsert, existing",
            lambda: collection.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"seen": 1}}, upsert=True) for i in ids]
            ),
        ),
        (
            "update_many with $in",
            lambda: collection.update_many({"_id": {"$in": ids}}, {"$set": {"sent": 1}}),
        ),
        ("delete_many with $in", lambda: collection.delete_many({"_id": {"$in": ids}})),
        (
            "DeleteOne per document",
            lambda: collection.bulk_write([DeleteOne({"_id": i}) for i in ids], ordered=False),
        ),
    ]
    timings = {}
    for name, work in steps:
        if name == "DeleteOne per document":  # the $in delete emptied the collection
            await collection.insert_many([{"_id": i, "value": body} for i in ids])
        timings[name] = await _timed(work)
    return timings


async def measure(documents: int, rounds: int) -> dict[str, float]:
    stack = Stack()
    await stack.start()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(stack.settings.mongodb_url)
    database = client[f"bench_operations_{uuid.uuid4().hex[:6]}"]
    results: dict[str, list[float]] = {}
    try:
        for _ in range(rounds):
            for name, seconds in (await one_round(database, documents)).items():
                results.setdefault(name, []).append(seconds)
    finally:
        await client.drop_database(database.name)
        await client.close()
    return {name: statistics.median(times) for name, times in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    medians = asyncio.run(measure(args.documents, args.rounds))
    baseline = medians["insert_many (baseline)"]
    print(f"| operation on {args.documents} documents | ms | ms per document | x insert_many |")
    print("|---|---:|---:|---:|")
    for name, seconds in medians.items():
        print(
            f"| {name} | {seconds * 1000:.0f} | {seconds * 1000 / args.documents:.3f} "
            f"| {seconds / baseline:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
