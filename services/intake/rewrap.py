"""Wrapping stored secrets again under the current master key version, batch by batch: the
person keys and the index entries both (key_store.py, person_index.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared.key_custody import MasterKeys
from shared.persistence import Document


async def rewrap_all(
    collection: AsyncCollection[Document],
    master: MasterKeys,
    rewrapped: Callable[[Document], Any],
    batch_size: int,
    session_of: Callable[[], Any],
) -> int:
    """Every document not wrapped under the current version, replaced by `rewrapped(doc)` (a
    write that matches only the document as it was read), one transaction per batch. A
    document changed meanwhile (erased, or rewrapped by another run) is left as it is; it is
    then no longer stale either, so the loop ends."""
    done = 0
    stale = {"master_key_id": {"$ne": master.current_id}}
    while batch := await collection.find(stale).limit(batch_size).to_list():
        async with session_of() as session, await session.start_transaction():
            result = await collection.bulk_write([rewrapped(doc) for doc in batch], session=session)
        done += result.modified_count
    return done
