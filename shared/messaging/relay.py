"""The outbox relay: publishes what handlers committed, in commit order, with an idempotent
producer.

A record leaves the outbox only after the broker acknowledged it (acks=all). If the process dies in
between, the record is published again on restart; consumers deduplicate by event id, so the
second copy changes nothing. One relay per service holds a lease at a time, so replicas do not
publish the same records side by side and reorder one participant's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import DeleteOne, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.contracts.envelope import new_event
from shared.contracts.registry import parse_event
from shared.contracts.scoped import resident_view
from shared.messaging.kafka import client_kwargs, ensure_topics, topic_partitions
from shared.observability import Metrics, get_logger
from shared.persistence import OutboxRecord, ServiceDatabase, event_record
from shared.settings import Settings

log = get_logger(__name__)
_LEASE_ID = "outbox-relay"


class OutboxRelay:
    def __init__(self, db: ServiceDatabase, settings: Settings, metrics: Metrics, service: str):
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.service = service
        self.owner = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lease_renew_at = datetime.min.replace(tzinfo=UTC)
        self._known_topics: set[str] = set()
        self._held: set[str] = set()
        self._held_since = datetime.min.replace(tzinfo=UTC)

    def wake(self) -> None:
        """A handler committed new outbox records: publish now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **client_kwargs(self.settings),
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            max_batch_size=256 * 1024,
            request_timeout_ms=15_000,
        )
        await self._producer.start()
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def stop(self, deadline_seconds: float) -> int:
        """Publish what is pending (within the deadline), then stop. Returns records left."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            # Let the current round finish: cancelled between publishing and marking sent, it
            # would publish the same records twice (harmless downstream, but needless).
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._task), timeout=max(deadline_seconds / 2, 0.1)
                )
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        left = 0
        try:
            left = await asyncio.wait_for(self._drain(), timeout=max(deadline_seconds, 0.1))
        except (TimeoutError, KafkaError, PyMongoError) as error:
            left = await self.pending()
            log.warning("outbox not fully flushed at shutdown", left=left, error=repr(error))
        finally:
            await self._release_lease()
            if self._producer is not None:
                await self._producer.stop()
        return left

    async def pending(self) -> int:
        try:
            return await self.db.outbox.count_documents({})
        except PyMongoError:
            return -1

    async def _drain(self) -> int:
        while await self._acquire_lease():
            if await self.publish_pending() == 0:
                return 0
        return await self.pending()

    async def _run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            try:
                published = 0
                if await self._acquire_lease():
                    published = await self.publish_pending()
                    await self._retry_held()
                backoff = 0.2
                if published:
                    continue  # there may be more: keep going without waiting
            except (KafkaError, PyMongoError, OSError) as error:
                log.warning("outbox relay failed; retrying", error=repr(error), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.relay_poll_ms / 1000)
            self._wake.clear()

    async def publish_pending(self) -> int:
        assert self._producer is not None
        query: dict[str, Any] = {}
        if self._held:
            query["topic"] = {"$nin": sorted(self._held)}
        batch = (
            await self.db.outbox.find(query)
            .sort("_id", 1)
            .limit(self.settings.relay_batch_size)
            .to_list()
        )
        batch = await self._without_missing_topics(batch)
        if not batch:
            self.metrics.outbox_pending.labels(service=self.service).set(0)
            return 0
        futures: list[asyncio.Future[Any]] = []
        for doc in batch:
            key = bytes(doc["key"]) if doc.get("key") is not None else None
            futures.append(
                await self._producer.send(
                    doc["topic"],
                    value=bytes(doc["value"]),
                    key=key,
                    headers=[(name, bytes(value)) for name, value in doc.get("headers", [])],
                )
            )
            if (view_topic := doc.get("view_topic")) and view_topic not in self._held:
                view = resident_record(bytes(doc["value"]), view_topic, self.settings)
                futures.append(
                    await self._producer.send(
                        view.topic, value=view.value, key=view.key, headers=list(view.headers)
                    )
                )
        await asyncio.gather(*futures)
        # Acknowledged by the broker: the records leave the outbox. Nothing sent lingers here (a
        # dead letter of a referral holds a clear personnummer), and a collection of pending
        # records only needs its _id index, which keeps every handler's insert cheap.
        # (One delete per record: on the MongoDB-protocol server measured in bench/, several times
        # faster than one delete with $in, and as safe.)
        await self.db.outbox.bulk_write(
            [DeleteOne({"_id": doc["_id"]}) for doc in batch], ordered=False
        )
        self.metrics.outbox_published.labels(service=self.service).inc(len(batch))
        return len(batch)

    async def _without_missing_topics(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A record for a topic that does not exist would block every record behind it. Create
        the topic where the service may; where an operator owns topics, hold that topic's records
        back (in order, for later) and publish the rest."""
        topics_named = {doc["topic"] for doc in batch} | {
            doc["view_topic"] for doc in batch if doc.get("view_topic")
        }
        unknown = sorted(topics_named - self._known_topics)
        if unknown:
            existing = set(await topic_partitions(self.settings, unknown))
            missing = [topic for topic in unknown if topic not in existing]
            if missing and self.settings.create_topics:
                await ensure_topics(self.settings, {topic: {} for topic in missing})
                existing |= set(missing)
            self._known_topics |= existing
            newly_held = set(missing) - existing
            if newly_held - self._held:
                log.error(
                    "records held back: their topic does not exist", topics=sorted(newly_held)
                )
            self._held |= newly_held
            self._held_since = datetime.now(UTC)
        # A municipality without its stream (not onboarded where an operator owns the topics)
        # misses the view, but its residents' events still flow: the view is not worth a stall.
        return [doc for doc in batch if doc["topic"] not in self._held]

    async def _retry_held(self) -> None:
        """Look again, now and then, whether held-back topics have been created."""
        if self._held and datetime.now(UTC) - self._held_since > timedelta(seconds=30):
            self._held.clear()

    async def _acquire_lease(self) -> bool:
        now = datetime.now(UTC)
        if now < self._lease_renew_at:
            return True  # held, and not yet half-way to expiry: spare the database a write
        expires = now + timedelta(seconds=self.settings.relay_lease_seconds)
        try:
            lease = await self.db.leases.find_one_and_update(
                {"_id": _LEASE_ID, "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": expires}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # another replica holds a live lease
        held = lease is not None and lease.get("owner") == self.owner
        if held:
            self._lease_renew_at = now + timedelta(seconds=self.settings.relay_lease_seconds / 2)
        return held

    async def _release_lease(self) -> None:
        self._lease_renew_at = datetime.min.replace(tzinfo=UTC)
        with contextlib.suppress(PyMongoError):
            await self.db.leases.update_one(
                {"_id": _LEASE_ID, "owner": self.owner},
                {"$set": {"expires_at": datetime.min.replace(tzinfo=UTC)}},
            )


def resident_record(value: bytes, topic: str, settings: Settings) -> OutboxRecord:
    """The municipality's view of a published event, derived from the event's own bytes: the
    same id every time it is derived, so a republished record republishes the same view."""
    envelope = parse_event(value)
    view = resident_view(envelope)
    assert view is not None, "only events with a municipality's view carry a view topic"
    copy = new_event(
        view,
        source=envelope.source,
        municipality=view.municipality,
        cause=envelope,
        time=envelope.time,
    )
    return event_record(settings, copy, topic.removeprefix(settings.topic_prefix))
