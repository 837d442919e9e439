"""The person keys, in a database of their own (`<prefix>_intake_keys`).

Apart from intake's data so that the two are backed up apart: a backup of intake's database
holds sealed identities and no key that opens them, and a person key erased from this store is
gone from every later backup of it. Backups of this store taken before an erasure still hold the
person's key, wrapped by the master key version then current; the erasure reaches them when that
version is destroyed after a rotation (key_custody.py, README "Key custody and backups").

The store lives on the same MongoDB deployment as intake's database, so a person's key is written
and destroyed in the very transaction that writes or erases the sealed identity: there is never
a key without its record, nor a record whose key was lost by a crash between two writes.

- person_keys: {_id: participant id, wrapped, master_key_id, created_at}
- person_index: from a personnummer's keyed lookup to its participant (person_index.py).
- erasure_holds: erasure requests, for as long as an earlier referral may arrive after them
  (erasure_holds.py).
- master_key_versions: {_id: version, current_since, retired_at}: when each version became
  current, and when the last key under it was wrapped again under a newer one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DeleteOne, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.mongo_client import AsyncMongoClient

from services.intake.erasure_holds import ErasureHolds
from services.intake.person_index import PersonIndex
from services.intake.rewrap import rewrap_all
from shared.key_custody import UNVERSIONED, MasterKeys, Wrapped
from shared.persistence import DURABLE, Document
from shared.settings import Settings

KEY_STORE = "intake_keys"


@dataclass(frozen=True)
class VersionUse:
    key_id: str
    person_keys: int
    current_since: datetime | None
    retired_at: datetime | None


class PersonKeyStore:
    def __init__(self, client: AsyncMongoClient[Document], settings: Settings) -> None:
        db = client.get_database(settings.database_name(KEY_STORE), write_concern=DURABLE)
        self.client = client
        self.keys: AsyncCollection[Document] = db["person_keys"]
        self.versions: AsyncCollection[Document] = db["master_key_versions"]
        self.index = PersonIndex(db["person_index"])
        self.holds = ErasureHolds(db["erasure_holds"])

    async def wrapped(self, participant_ids: Iterable[str], session: Any) -> dict[str, Wrapped]:
        ids = list(set(participant_ids))
        if not ids:
            return {}
        found = await self.keys.find({"_id": {"$in": ids}}, session=session).to_list()
        return {doc["_id"]: _wrapped(doc) for doc in found}

    def inserts(self, new_keys: dict[str, Wrapped], now: datetime) -> list[Any]:
        return [
            InsertOne(
                {
                    "_id": pid,
                    "wrapped": key.blob,
                    "master_key_id": key.key_id,
                    "created_at": now,
                }
            )
            for pid, key in new_keys.items()
        ]

    async def write(self, operations: list[Any], session: Any) -> None:
        if operations:
            await self.keys.bulk_write(operations, session=session)

    async def destroy(self, participant_ids: Iterable[str], session: Any) -> None:
        ids = list(set(participant_ids))
        if ids:
            await self.keys.bulk_write([DeleteOne({"_id": pid}) for pid in ids], session=session)

    async def adopt(self, old: AsyncCollection[Document]) -> int:
        """Keys kept in intake's own database by earlier versions move here, in one
        transaction per batch, so that a backup of intake's database holds none of them."""
        moved = 0
        while batch := await old.find({}).limit(500).to_list():
            async with self.client.start_session() as session, await session.start_transaction():
                await self.keys.bulk_write(
                    [
                        UpdateOne(
                            {"_id": doc["_id"]},
                            {
                                "$setOnInsert": {
                                    "wrapped": doc["wrapped"],
                                    "master_key_id": doc.get("master_key_id", UNVERSIONED),
                                    "created_at": doc.get("created_at"),
                                }
                            },
                            upsert=True,
                        )
                        for doc in batch
                    ],
                    session=session,
                )
                await old.delete_many({"_id": {"$in": [d["_id"] for d in batch]}}, session=session)
            moved += len(batch)
        return moved

    async def ensure_indexes(self) -> None:
        await self.keys.create_index([("master_key_id", ASCENDING)])
        await self.index.ensure_indexes()
        await self.holds.ensure_indexes()

    async def versions_in_use(self) -> Counter[str]:
        """How many person keys and index entries each master key version wraps."""
        counts: Counter[str] = Counter()
        for collection in (self.keys, self.index.entries):
            for key_id in await collection.distinct("master_key_id"):
                if isinstance(key_id, str):
                    counts[key_id] += await collection.count_documents({"master_key_id": key_id})
            missing = {"master_key_id": {"$exists": False}}
            counts[UNVERSIONED] += await collection.count_documents(missing)
        return +counts

    async def report(self) -> list[VersionUse]:
        counts = await self.versions_in_use()
        history = {doc["_id"]: doc for doc in await self.versions.find({}).to_list()}
        return [
            VersionUse(
                key_id,
                counts.get(key_id, 0),
                history.get(key_id, {}).get("current_since"),
                history.get(key_id, {}).get("retired_at"),
            )
            for key_id in sorted(set(counts) | set(history))
        ]

    async def record_current(self, key_id: str, now: datetime) -> None:
        await self.versions.update_one(
            {"_id": key_id}, {"$setOnInsert": {"current_since": now}}, upsert=True
        )

    async def rewrap(self, master: MasterKeys, now: datetime, batch_size: int = 500) -> int:
        """Wrap every person key and index entry again under the current version; the versions
        left without any are marked retired. Each batch is one transaction, and a key changed
        meanwhile (erased, or rewrapped by another run) is left as it is."""
        await self.record_current(master.current_id, now)
        for key_id in await self.versions_in_use():
            await self.versions.update_one({"_id": key_id}, {"$setOnInsert": {}}, upsert=True)

        def again(doc: Document) -> UpdateOne:
            secret = master.unwrap(_wrapped(doc), str(doc["_id"]).encode())
            new = master.wrap(secret, str(doc["_id"]).encode())
            return UpdateOne(
                {"_id": doc["_id"], "wrapped": doc["wrapped"]},
                {"$set": {"wrapped": new.blob, "master_key_id": new.key_id}},
            )

        rewrapped = await rewrap_all(
            self.keys, master, again, batch_size, self.client.start_session
        )
        rewrapped += await self.index.rewrap(master, batch_size, self.client.start_session)
        in_use = await self.versions_in_use()
        await self.versions.update_many(
            {"_id": {"$nin": list(in_use)}, "retired_at": None},
            {"$set": {"retired_at": now}},
        )
        return rewrapped


class VersionsMissing(Exception):
    """The keyring lacks a version that still wraps person keys."""


async def check_keyring(store: PersonKeyStore, master: MasterKeys, now: datetime) -> None:
    """Refuse to run without a version that still wraps person keys: those people's identities
    would be as good as erased, by a configuration mistake. Records the current version."""
    missing = {
        key_id: count
        for key_id, count in (await store.versions_in_use()).items()
        if not master.has_version(key_id)
    }
    if missing:
        listed = ", ".join(
            f"{key_id} ({count} person keys or index entries)" for key_id, count in missing.items()
        )
        raise VersionsMissing(
            f"INSATS_IDENTITY_MASTER_KEY lacks master key versions still in use: {listed}. "
            "Give them back, rotate (insats identity rotate-master-key) and destroy them after."
        )
    await store.record_current(master.current_id, now)


def _wrapped(doc: Document) -> Wrapped:
    return Wrapped(str(doc.get("master_key_id", UNVERSIONED)), bytes(doc["wrapped"]))
