"""Records kept only as long as a setting says: a TTL index on their date field.

MongoDB (and SecantusDB) delete a document once its indexed date lies `expireAfterSeconds` in
the past, checking about once a minute, so a record may outlive its limit by that much. An
index's expiry cannot be changed by creating it again: a changed setting replaces the index,
and an index on the same field from an earlier version (a plain one, or one with another
expiry) is replaced the same way. Every replica runs this on start; one that finds the work
done by another leaves it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from shared.observability import get_logger

log = get_logger(__name__)


def days(count: int | None) -> timedelta | None:
    """A retention setting in days, as `ensure_expiry` takes it (None: kept)."""
    return timedelta(days=count) if count is not None else None


async def ensure_expiry(
    collection: AsyncCollection[dict[str, Any]],
    field: str,
    after: timedelta | None,
    *,
    indexed_otherwise: bool = False,
) -> None:
    """Documents of `collection` are deleted `after` the date in `field`; with None they are
    kept, under a plain index on the field if `indexed_otherwise` (for queries by date)."""
    name = f"{field}_1"
    seconds = int(after.total_seconds()) if after is not None else None
    for _ in range(3):
        existing = (await collection.index_information()).get(name)
        expiry = existing.get("expireAfterSeconds") if existing is not None else None
        wanted = seconds is not None or indexed_otherwise
        if (existing is not None) == wanted and expiry == seconds:
            return
        try:
            if existing is not None:
                await collection.drop_index(name)
            if seconds is not None:
                await collection.create_index([(field, ASCENDING)], expireAfterSeconds=seconds)
            elif indexed_otherwise:
                await collection.create_index([(field, ASCENDING)])
        except OperationFailure as error:
            # Another replica changed the index meanwhile: look again.
            log.info("index changed meanwhile", collection=collection.name, code=error.code)
            continue
        if seconds is not None:
            log.info("record expiry set", collection=collection.name, field=field, seconds=seconds)
        return
    raise RuntimeError(f"could not set the expiry of {collection.name}.{field}")
