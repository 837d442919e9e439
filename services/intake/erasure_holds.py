"""Erasure requests, remembered for as long as a referral made before them may still arrive.

A municipality's records are keyed by their own ids (a referral by its case reference, a request
by its request id), so a person's referral and the erasure request that follows it may lie on
different partitions of the referral topic and reach intake in either order. A referral made
before the request but applied after it would enrol the person again, under a new id, the
moment they were erased. So each erasure request leaves a hold in the key store's
`erasure_holds`: {_id: "<kommunkod>/<lookup>", requested_at: the request's time, until}. A
referral of that person from that municipality made no later than `requested_at` is refused
(ERASURE_REQUESTED); one made after it is a new referral.

A hold lasts as long as the referral topic keeps a record (INSATS_REFERRAL_RETENTION_HOURS):
after that no earlier referral can arrive. A TTL index removes it then, and `held` ignores one
the TTL monitor has not removed yet. The lookup is the person index's keyed hash: like the
index it stays in the key store, apart from intake's data.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.persistence import Document


class ErasureHolds:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.holds = collection

    async def ensure_indexes(self) -> None:
        await self.holds.create_index([("until", ASCENDING)], expireAfterSeconds=0)

    async def hold(
        self,
        municipality: str,
        lookups: Iterable[str],
        requested_at: datetime,
        until: datetime,
        session: Any,
    ) -> None:
        """Referrals of these people by `municipality` made up to `requested_at` are erased
        history until `until` (a later request of the same person moves both on)."""
        operations = [
            UpdateOne(
                {"_id": _hold_id(municipality, lookup)},
                {"$max": {"requested_at": requested_at, "until": until}},
                upsert=True,
            )
            for lookup in sorted(set(lookups))
        ]
        if operations:
            await self.holds.bulk_write(operations, session=session)

    async def held(
        self, wanted: Iterable[tuple[str, str]], now: datetime, session: Any
    ) -> dict[tuple[str, str], datetime]:
        """For each (municipality, lookup) with a hold still in force, when that erasure was
        requested."""
        ids = {
            _hold_id(municipality, lookup): (municipality, lookup)
            for municipality, lookup in wanted
        }
        if not ids:
            return {}
        found = await self.holds.find(
            {"_id": {"$in": list(ids)}, "until": {"$gt": now}}, session=session
        ).to_list()
        return {ids[doc["_id"]]: doc["requested_at"] for doc in found}


def _hold_id(municipality: str, lookup: str) -> str:
    return f"{municipality}/{lookup}"
