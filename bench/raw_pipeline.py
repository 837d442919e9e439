"""The design's physical limit on this stack: a hand-written pipeline doing the hops and the
minimum writes per referral the three services do, with every guarantee on, and nothing else:
plain aiokafka and pymongo, JSON by hand, no FastStream, no pydantic, no domain.

Each hop consumes a batch, applies it in one transaction (inbox ids, state, outbox), commits,
publishes the outbox with an idempotent producer (acks=all), removes what the broker
acknowledged from the outbox, one delete per record as the relay does, and only then commits
its offsets:

- intake: referrals -> participants (state) and an enrolment each (outbox -> enrolments topic);
- placement: enrolments -> the waiting list (state), one programme update per batch, and an
  offer for each while places last (placements, outbox -> offers topic);
- outcomes: enrolments -> a journey each (state), nothing published.

`bench.e2e` runs it on the same referrals as the pipeline and prints the pipeline's rate as a
share of this one's. (The three hops run as tasks of one process here, the services as three
processes: the database is the shared limit either way.)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bson import ObjectId
from pymongo import AsyncMongoClient, DeleteOne, WriteConcern
from pymongo.read_concern import ReadConcern

from shared.messaging.kafka import client_kwargs, ensure_topics
from shared.settings import Settings

DURABLE = WriteConcern(w="majority", j=True)
BATCH = 500


class _Hop:
    def __init__(
        self,
        settings: Settings,
        client: AsyncMongoClient[dict[str, Any]],
        name: str,
        source: str,
        sink: str | None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.name = name
        self.db = client[f"{settings.database_prefix}_raw_{name}"].with_options(
            write_concern=DURABLE
        )
        self.source = settings.topic(source)
        self.sink = settings.topic(sink) if sink else None
        self.applied = 0

    async def run(self, expected: int, producer: AIOKafkaProducer) -> None:
        consumer = AIOKafkaConsumer(
            self.source,
            **client_kwargs(self.settings),
            group_id=f"{self.settings.consumer_group_prefix}-raw-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            while self.applied < expected:
                fetched = await consumer.getmany(timeout_ms=200, max_records=BATCH)
                records = [r for batch in fetched.values() for r in batch]
                if not records:
                    continue
                events = [json.loads(r.value) for r in records]
                outgoing = await self._transaction(events)
                if outgoing and self.sink is not None:
                    futures = [
                        await producer.send(self.sink, doc["value"], key=doc["key"])
                        for doc in outgoing
                    ]
                    await asyncio.gather(*futures)
                    await self.db["outbox"].bulk_write(
                        [DeleteOne({"_id": doc["_id"]}) for doc in outgoing], ordered=False
                    )
                await consumer.commit()
                self.applied += len(events)
        finally:
            await consumer.stop()

    async def _transaction(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        async with self.client.start_session() as session:
            outgoing: list[dict[str, Any]] = []

            async def work(session: Any) -> None:
                outgoing.clear()
                await self.db["inbox"].insert_many(
                    [{"_id": e["id"]} for e in events], session=session
                )
                outgoing.extend(await self.apply(events, session))
                if outgoing:
                    await self.db["outbox"].insert_many(outgoing, session=session)

            await session.with_transaction(
                work, read_concern=ReadConcern("snapshot"), write_concern=DURABLE
            )
            return outgoing

    async def apply(self, events: list[dict[str, Any]], session: Any) -> list[dict[str, Any]]:
        raise NotImplementedError


def _record(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"_id": ObjectId(), "key": key.encode(), "value": json.dumps(value).encode()}


class _Intake(_Hop):
    async def apply(self, events: list[dict[str, Any]], session: Any) -> list[dict[str, Any]]:
        participants, identities, decisions, enrolments = [], [], [], []
        keys, index = [], []
        lookups = [
            "p-" + hashlib.sha256(event["data"]["personnummer"].encode()).hexdigest()[:32]
            for event in events
        ]
        # The look-up of who each number names, in the key store (none yet: all are new).
        keys_db = self.client[self.db.name + "_keys"]
        await keys_db["person_index"].find({"_id": {"$in": lookups}}, session=session).to_list()
        for event, lookup in zip(events, lookups, strict=True):
            data = event["data"]
            pid = "p-" + hashlib.sha256(lookup.encode()).hexdigest()[:32]
            participants.append({"_id": pid, "programme_id": data["programme_id"]})
            # The sealed identity, the person key and the index entry (in the key store's own
            # database, in the same transaction) and the decision: what the real intake writes
            # per new person.
            identities.append({"_id": pid, "sealed": hashlib.sha512(pid.encode()).digest()})
            keys.append({"_id": pid, "wrapped": hashlib.sha256(pid.encode()).digest()})
            index.append({"_id": lookup, "participant": hashlib.sha256(lookup.encode()).digest()})
            decisions.append({"_id": event["id"], "decision": "enrolled", "participant": pid})
            enrolments.append(
                _record(
                    pid,
                    {
                        "id": event["id"] + "-enrolled",
                        "participant_id": pid,
                        "programme_id": data["programme_id"],
                        "income_support": data["income_support"],
                        "referral_date": data["referral_date"],
                    },
                )
            )
        await self.db["participants"].insert_many(participants, session=session)
        await self.db["identities"].insert_many(identities, session=session)
        await keys_db["person_keys"].insert_many(keys, session=session)
        await keys_db["person_index"].insert_many(index, session=session)
        await self.db["referrals"].insert_many(decisions, session=session)
        return enrolments


class _Placement(_Hop):
    def __init__(self, *args: Any, capacity: int) -> None:
        super().__init__(*args)
        self.capacity = capacity

    async def apply(self, events: list[dict[str, Any]], session: Any) -> list[dict[str, Any]]:
        programme = await self.db["programmes"].find_one_and_update(
            {"_id": "bench"}, {"$inc": {"version": 1}}, upsert=True, session=session
        )
        occupied = int((programme or {}).get("occupied", 0))
        free = max(0, self.capacity - occupied)
        offered, waiting = events[:free], events[free:]
        offers: list[dict[str, Any]] = []
        if waiting:
            await self.db["waiting"].insert_many(
                [{"_id": e["participant_id"], **e} for e in waiting], session=session
            )
        if offered:
            await self.db["placements"].insert_many(
                [{"_id": e["participant_id"], "status": "erbjuden"} for e in offered],
                session=session,
            )
            await self.db["programmes"].update_one(
                {"_id": "bench"}, {"$inc": {"occupied": len(offered)}}, session=session
            )
            # The offer, and the partner's own view of the placement: two records each.
            for e in offered:
                offers.append(_record(e["participant_id"], {**e, "id": e["id"] + "-offered"}))
                offers.append(_record(e["participant_id"], {**e, "id": e["id"] + "-view"}))
        return offers


class _Outcomes(_Hop):
    async def apply(self, events: list[dict[str, Any]], session: Any) -> list[dict[str, Any]]:
        await self.db["journeys"].insert_many(
            [{"_id": e["participant_id"], "programme_id": e["programme_id"]} for e in events],
            session=session,
        )
        return []


async def raw_pipeline(settings: Settings, referrals_topic: str, n: int, capacity: int) -> float:
    """Run the three hops over the `n` referrals on `referrals_topic` (unprefixed); returns the
    seconds until the last journey is written."""
    await ensure_topics(
        settings,
        {settings.topic(t): {} for t in ("raw.enrolments", "raw.offers")},
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_url.get_secret_value(), w="majority", journal=True
    )
    producer = AIOKafkaProducer(**client_kwargs(settings), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for name in ("intake", "intake_keys", "placement", "outcomes"):
            await client.drop_database(f"{settings.database_prefix}_raw_{name}")
        hops = [
            _Intake(settings, client, "intake", referrals_topic, "raw.enrolments"),
            _Placement(
                settings, client, "placement", "raw.enrolments", "raw.offers", capacity=capacity
            ),
            _Outcomes(settings, client, "outcomes", "raw.enrolments", None),
        ]
        started = time.perf_counter()
        await asyncio.gather(*(hop.run(n, producer) for hop in hops))
        return time.perf_counter() - started
    finally:
        await producer.stop()
        for name in ("intake", "intake_keys", "placement", "outcomes"):
            await client.drop_database(f"{settings.database_prefix}_raw_{name}")
        await client.close()
