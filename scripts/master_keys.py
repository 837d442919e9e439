"""Rotation of the identity master key, and what each version still wraps (README "Key custody
and backups"). Run by the operator: `insats identity master-keys` and
`insats identity rotate-master-key`, with the new version first in INSATS_IDENTITY_MASTER_KEY."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from services.intake.identity_access import Accessor
from services.intake.key_store import VersionUse
from services.intake.store import IntakeStore
from shared.contracts import topics
from shared.key_custody import parse_keyring
from shared.outbox_seal import SEALED, OutboxSeal
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings


@dataclass(frozen=True)
class Rotation:
    current: str
    person_keys: int
    dead_letters: int


@dataclass(frozen=True)
class KeyringStatus:
    current: str | None
    versions: list[VersionUse]
    # Intake's dead letters waiting sealed in its outbox (or parked), by the version of their seal.
    sealed_waiting: Counter[str]


async def status(settings: Settings) -> KeyringStatus:
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"))
        current = (
            parse_keyring(settings.identity_master_key.get_secret_value()).current_id
            if settings.identity_master_key is not None
            else None
        )
        return KeyringStatus(current, await store.keys.report(), await _sealed_waiting(store))
    finally:
        await client.close()


async def rotate(settings: Settings, who: Accessor) -> Rotation:
    """Wrap every person key, and the seal of every dead letter waiting in intake's outbox,
    again under the current version. Audited: it handles every person's key."""
    if settings.identity_master_key is None:
        raise RuntimeError("INSATS_IDENTITY_MASTER_KEY is needed to rotate it")
    who.check()
    master = parse_keyring(settings.identity_master_key.get_secret_value())
    seal = OutboxSeal(master, {settings.topic(topics.dead_letter_topic("intake"))})
    client = mongo_client(settings)
    try:
        db = ServiceDatabase(client, settings, "intake")
        store = IntakeStore(db)
        now = datetime.now(UTC)
        person_keys = await store.keys.rewrap(master, now)
        dead_letters = 0
        for collection in (db.outbox, db.parked):
            async for document in collection.find({SEALED: {"$type": "object"}}):
                rewrapped = seal.rewrapped(document)
                if rewrapped is None:
                    continue
                result = await collection.update_one(
                    {"_id": document["_id"], SEALED: document[SEALED]},
                    {"$set": {SEALED: rewrapped}},
                )
                dead_letters += result.modified_count
        await store.write_audit(
            {
                "action": "rotate_master_key",
                "actor": who.actor,
                "reason": who.reason,
                "at": now,
                "master_key_id": master.current_id,
                "person_keys": person_keys,
            }
        )
        return Rotation(master.current_id, person_keys, dead_letters)
    finally:
        await client.close()


async def _sealed_waiting(store: IntakeStore) -> Counter[str]:
    counts: Counter[str] = Counter()
    for collection in (store.db.outbox, store.db.parked):
        async for document in collection.find({SEALED: {"$type": "object"}}, {SEALED: 1}):
            counts[str(document[SEALED].get("key_id"))] += 1
    return counts
