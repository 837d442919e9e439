"""The in-memory database the rebuild folds history into: MongoDB's semantics for what the stores
use, refusal of the rest, and transactions that leave nothing behind when they fail.

The same operations are held to the real server in tests/integration/test_memory_database.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.errors import DuplicateKeyError, WriteError

from shared.memory_database import MemoryDatabase, apply_update, matches
from shared.persistence import OutboxRecord, Transaction, is_duplicate_key
from shared.settings import Settings


@pytest.fixture
def database() -> MemoryDatabase:
    return MemoryDatabase(Settings(), "outcomes")


def test_set_on_a_dotted_path_creates_the_objects_on_the_way_and_keeps_the_original() -> None:
    before: dict[str, Any] = {"_id": "j1", "placements": {"a": {"partner_id": "x"}}}
    after = apply_update(
        before, {"$set": {"placements.b.start_date": "2026-01-05"}}, inserting=False
    )
    assert after["placements"] == {"a": {"partner_id": "x"}, "b": {"start_date": "2026-01-05"}}
    assert before == {"_id": "j1", "placements": {"a": {"partner_id": "x"}}}


def test_min_and_max_keep_the_earliest_and_latest_and_set_a_missing_field() -> None:
    doc: dict[str, Any] = {"_id": 1}
    for day in ("2026-03-01", "2026-01-15", "2026-05-30"):
        doc = apply_update(doc, {"$min": {"first": day}, "$max": {"last": day}}, inserting=False)
    assert (doc["first"], doc["last"]) == ("2026-01-15", "2026-05-30")


def test_set_on_insert_applies_only_when_the_upsert_inserts() -> None:
    update = {"$set": {"point": "6m"}, "$setOnInsert": {"open": True}}
    assert apply_update({"_id": 1}, update, inserting=True) == {
        "_id": 1,
        "point": "6m",
        "open": True,
    }
    closed = {"_id": 1, "open": False}
    assert apply_update(closed, update, inserting=False) == {"_id": 1, "open": False, "point": "6m"}


def test_inc_adds_and_starts_a_missing_counter_at_the_increment() -> None:
    doc = apply_update({"_id": "kalmar"}, {"$inc": {"rejected": 2}}, inserting=False)
    assert apply_update(doc, {"$inc": {"rejected": 3}}, inserting=False)["rejected"] == 5


def test_an_update_writing_a_path_and_a_part_of_it_is_refused_as_the_server_does() -> None:
    with pytest.raises(WriteError, match="conflict"):
        apply_update({"_id": 1}, {"$set": {"a.b": 1}, "$unset": {"a": ""}}, inserting=False)


def test_filters_match_as_mongodb_does() -> None:
    doc = {"_id": 1, "open": True, "n": 3, "tags": ["a", "b"], "when": datetime(2026, 1, 1)}
    assert matches(doc, {"open": True, "n": {"$in": [1, 3]}})
    assert matches(doc, {"tags": "b"}), "an array matches any of its elements"
    assert matches(doc, {"missing": None}), "null matches a missing field"
    assert not matches(doc, {"n": True}), "a boolean is not a number"
    assert not matches(doc, {"absent": True})
    assert matches(doc, {"when": {"$lt": datetime(2026, 2, 1)}})
    assert not matches(doc, {"n": {"$lt": "9"}}), "a range matches values of its own type only"
    assert matches(doc, {"$or": [{"n": 4}, {"open": True}]})
    assert not matches(doc, {"n": {"$ne": 3}})


@pytest.mark.parametrize(
    ("query", "update"),
    [
        ({"$where": "true"}, {"$set": {"a": 1}}),
        ({"_id": 1}, {"$push": {"a": 1}}),
        ({"_id": 1}, {"a": 1}),
        ({"a": {"$regex": "x"}}, {"$set": {"a": 1}}),
    ],
)
async def test_what_is_not_implemented_is_refused_not_guessed(
    database: MemoryDatabase, query: dict[str, Any], update: dict[str, Any]
) -> None:
    collection = database.memory_collection("c")
    await collection.insert_one({"_id": 1, "a": "x"})
    with pytest.raises(NotImplementedError):
        await collection.update_many(query, update)


async def test_bulk_writes_read_every_kind_of_write_model(database: MemoryDatabase) -> None:
    collection = database.memory_collection("c")
    result = await collection.bulk_write(
        [
            InsertOne({"_id": 1, "n": 1}),
            UpdateOne({"_id": 2}, {"$set": {"n": 2}}, upsert=True),
            UpdateMany({"n": {"$in": [1, 2]}}, {"$inc": {"n": 10}}),
            DeleteOne({"_id": 1}),
        ]
    )
    assert (result.inserted_count, result.upserted_count, result.deleted_count) == (1, 1, 1)
    assert await collection.find({}).to_list() == [{"_id": 2, "n": 12}]
    with pytest.raises(NotImplementedError):
        await collection.bulk_write([ReplaceOne({"_id": 2}, {"n": 0})])


async def test_an_upsert_takes_the_filters_equalities_into_the_new_document(
    database: MemoryDatabase,
) -> None:
    collection = database.memory_collection("c")
    await collection.update_one({"_id": "f1", "kind": "6m"}, {"$set": {"open": True}}, upsert=True)
    assert await collection.find_one({"_id": "f1"}) == {"_id": "f1", "kind": "6m", "open": True}


async def test_indexed_lookups_find_what_a_scan_finds_after_updates_and_deletes(
    database: MemoryDatabase,
) -> None:
    collection = database.memory_collection("journeys")
    await collection.create_index([("participant_id", 1)])
    for i in range(20):
        await collection.insert_one({"_id": i, "participant_id": f"p{i % 4}"})
    await collection.update_many({"participant_id": "p1"}, {"$set": {"participant_id": "p9"}})
    await collection.delete_one({"_id": 2})
    by_index = await collection.find({"participant_id": {"$in": ["p2", "p9"]}}).to_list()
    assert [d["_id"] for d in by_index] == [1, 5, 6, 9, 10, 13, 14, 17, 18]
    assert await collection.count_documents({"participant_id": "p1"}) == 0


async def test_find_sorts_limits_and_projects_copies(database: MemoryDatabase) -> None:
    collection = database.memory_collection("c")
    for i, due in enumerate(("2026-03-01", "2026-01-01", "2026-02-01")):
        await collection.insert_one({"_id": f"f{i}", "due": due, "extra": {"x": i}})
    found = await collection.find({}, {"due": 1}).sort("due", -1).limit(2).to_list()
    assert found == [{"_id": "f0", "due": "2026-03-01"}, {"_id": "f2", "due": "2026-02-01"}]
    copy = await collection.find_one({"_id": "f1"})
    assert copy is not None
    copy["extra"]["x"] = 99
    assert (await collection.find_one({"_id": "f1"}) or {})["extra"] == {"x": 1}


async def test_a_failed_transaction_leaves_no_change_behind(database: MemoryDatabase) -> None:
    journeys = database.memory_collection("journeys")
    await journeys.create_index([("participant_id", 1)])
    await journeys.insert_one({"_id": "j1", "participant_id": "p1", "n": 1})

    async def fails(tx: Transaction) -> None:
        await journeys.update_one(
            {"_id": "j1"}, {"$inc": {"n": 1}, "$set": {"participant_id": "p2"}}
        )
        await journeys.insert_one({"_id": "j2", "participant_id": "p1"})
        await journeys.delete_one({"_id": "j1"})
        tx.applied_ids.append("event-1")
        raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await database.in_transaction(fails)
    assert await journeys.find({}).to_list() == [{"_id": "j1", "participant_id": "p1", "n": 1}]
    assert [d["_id"] for d in await journeys.find({"participant_id": "p1"}).to_list()] == ["j1"]
    assert not await journeys.find({"participant_id": "p2"}).to_list()
    assert await database.already_applied(["event-1"]) == set()


async def test_an_event_applied_before_is_refused_by_the_inbox_and_its_changes_undone(
    database: MemoryDatabase,
) -> None:
    counts = database.memory_collection("referral_counts")
    now = datetime(2026, 11, 24, tzinfo=UTC)

    async def count(tx: Transaction) -> None:
        await counts.update_one({"_id": "kalmar"}, {"$inc": {"rejected": 1}}, upsert=True)
        tx.applied_ids.append("event-1")

    await database.in_transaction(count, now)
    with pytest.raises(DuplicateKeyError) as refused:
        await database.in_transaction(count, now)
    assert is_duplicate_key(refused.value), "the batch consumer's signal to skip what it saw"
    assert await counts.find_one({"_id": "kalmar"}) == {"_id": "kalmar", "rejected": 1}
    assert await database.already_applied(["event-1", "event-2"]) == {"event-1"}


async def test_only_the_outbox_records_asked_for_are_kept() -> None:
    database = MemoryDatabase(Settings(), "outcomes", keep=lambda record: record.topic == "dlq")

    async def emit(tx: Transaction) -> None:
        tx.emit_record(OutboxRecord(topic="events", key=b"p1", value=b"{}"))
        tx.emit_record(OutboxRecord(topic="dlq", key=b"p1", value=b"not json"))

    await database.in_transaction(emit)
    assert [d["topic"] for d in await database.outbox.find({}).to_list()] == ["dlq"]


async def test_an_in_of_strings_matches_strings_and_array_elements_only(
    database: MemoryDatabase,
) -> None:
    collection = database.collection("journeys")
    await collection.insert_many(
        [
            {"_id": 1, "tag": "p1"},
            {"_id": 2, "tag": ["p9", "p2"]},
            {"_id": 3, "tag": 1},
            {"_id": 4, "tag": None},
            {"_id": 5},
        ]
    )
    found = await collection.find({"tag": {"$in": ["p1", "p2", "1"]}}).to_list()
    assert [doc["_id"] for doc in found] == [1, 2]
