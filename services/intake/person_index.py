"""From a personnummer to the participant it names: the only place where the two meet.

Participant ids are random: nothing in an id, nor in any event that carries it, leads to the
person. Intake finds a person's participant by a keyed lookup of the normalised number
(an HMAC under INSATS_PSEUDONYM_KEY, which never leaves intake), in the key store's
`person_index`: {_id: lookup, participant: the id wrapped by the master key (bound to the
lookup), master_key_id, kind, owner, created_at}.

- kind: "referral" (the number the person was referred under) or "link" (a personnummer linked
  to the samordningsnummer the person was first known by).
- owner: a keyed tag of the participant id under the master key (shared/key_custody.py), so that
  an erasure removes every entry of the person without the id lying beside the lookup.

Erasure deletes the person's entries: a later referral of the same person is a new participant
with a new random id, which nothing links to the old one. A backup of the key store taken
before the erasure still holds the lookup (that the number had an entry) until it expires; the
participant it named is unreadable once the master key version is destroyed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection

from services.intake.rewrap import rewrap_all
from shared.key_custody import UNVERSIONED, MasterKeys, Wrapped
from shared.persistence import Document

REFERRAL = "referral"
LINK = "link"


def new_participant_id() -> str:
    return f"p-{secrets.token_hex(16)}"


@dataclass(frozen=True)
class Entry:
    participant_id: str
    kind: str


class PersonIndex:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.entries = collection

    async def ensure_indexes(self) -> None:
        await self.entries.create_index([("owner", ASCENDING)])
        await self.entries.create_index([("master_key_id", ASCENDING)])

    async def find(
        self, lookups: Iterable[str], master: MasterKeys, session: Any
    ) -> dict[str, Entry]:
        ids = list(set(lookups))
        if not ids:
            return {}
        found = await self.entries.find({"_id": {"$in": ids}}, session=session).to_list()
        return {doc["_id"]: _entry(doc, master) for doc in found}

    async def put(
        self,
        entries: dict[str, Entry],
        master: MasterKeys,
        now: datetime,
        session: Any,
    ) -> None:
        """Each lookup names its participant from now on (a new entry, or one that replaces
        the lookup's entry)."""
        if entries:
            await self.entries.bulk_write(
                [
                    ReplaceOne({"_id": lookup}, _document(lookup, entry, master, now), upsert=True)
                    for lookup, entry in entries.items()
                ],
                session=session,
            )

    async def of(self, participant_id: str, master: MasterKeys, session: Any) -> dict[str, Entry]:
        found = await self.entries.find(
            {"owner": {"$in": master.tags(participant_id.encode())}}, session=session
        ).to_list()
        return {doc["_id"]: _entry(doc, master) for doc in found}

    async def forget(self, participant_id: str, master: MasterKeys, session: Any) -> None:
        await self.entries.delete_many(
            {"owner": {"$in": master.tags(participant_id.encode())}}, session=session
        )

    async def reassign(
        self, merged: str, kept: str, master: MasterKeys, now: datetime, session: Any
    ) -> None:
        """The numbers that named `merged` name `kept`: as links, since kept was referred
        under a number of its own."""
        moved = await self.of(merged, master, session)
        await self.put(
            {lookup: Entry(kept, LINK) for lookup in moved}, master, now, session=session
        )

    async def rewrap(self, master: MasterKeys, batch_size: int, session_of: Any) -> int:
        """Every entry wrapped (and tagged) again under the current version."""

        def again(doc: Document) -> ReplaceOne[Document]:
            return ReplaceOne(
                {"_id": doc["_id"], "participant": doc["participant"]},
                _document(doc["_id"], _entry(doc, master), master, doc.get("created_at")),
            )

        return await rewrap_all(self.entries, master, again, batch_size, session_of)


def _document(lookup: str, entry: Entry, master: MasterKeys, now: datetime | None) -> Document:
    wrapped = master.wrap(entry.participant_id.encode(), lookup.encode())
    return {
        "_id": lookup,
        "participant": wrapped.blob,
        "master_key_id": wrapped.key_id,
        "kind": entry.kind,
        "owner": master.tags(entry.participant_id.encode())[0],
        "created_at": now,
    }


def _entry(doc: Document, master: MasterKeys) -> Entry:
    wrapped = Wrapped(str(doc.get("master_key_id", UNVERSIONED)), bytes(doc["participant"]))
    return Entry(master.unwrap(wrapped, str(doc["_id"]).encode()).decode(), str(doc["kind"]))
