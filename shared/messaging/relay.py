"""The outbox relay: publishes what handlers committed, in commit order, with an idempotent
producer.

A record leaves the outbox only after the broker acknowledged it (acks=all). If the process dies in
between, the record is published again on restart; consumers deduplicate by event id, so the
second copy changes nothing. One relay per service holds a lease at a time, so replicas do not
publish the same records side by side and reorder one participant's events.

The relay never stops. A record it cannot publish (too large for the broker, a topic that does
not exist or that the service may not write, any other refusal the broker gives, any exception)
is parked in `outbox_parked` with its reason, counted and logged, and the records behind it go
on; what the broker acknowledged is never sent again because a later record failed. A
municipality's view that cannot be derived or sent is parked alone; its event still goes. Only
failures that waiting cures (the broker unreachable, a leader moving) keep records in the outbox
to be tried again; so do failures of the producer's own session with the broker (an
idempotent producer's sequence out of order or its id unknown after a broker restart), after
which the relay starts a new producer. A record whose municipality's view was not sent for such
a reason stays too, and goes again with its view (the view's id is derived, so it is the same).
Parked records whose topic was missing go back into the outbox, in their order, once the topic
exists; the others wait for an operator (`insats outbox`).

The relay publishes only what its service declares (`ServiceRuntime.publishes`): an event of any
other type, or a record that is neither an event nor one of the service's own dead letters, is
parked as UNDECLARED. What a service may write is then what its declaration says, which is what
the AsyncAPI document and the ACLs are generated from, and not whatever a handler happens to put
in its outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    UnknownProducerId,
)
from pymongo import DeleteOne, InsertOne, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from shared.audience import audience_view, pseudonyms_of
from shared.contracts import topics
from shared.contracts.envelope import new_event
from shared.contracts.registry import parse_event
from shared.contracts.scoped import resident_view
from shared.messaging.dead_letters import H_CODE
from shared.messaging.failures import describe_failure
from shared.messaging.kafka import client_kwargs, ensure_topics, topic_partitions
from shared.observability import Metrics, get_logger
from shared.outbox_seal import opened, seal_headers
from shared.persistence import OutboxRecord, ServiceDatabase, event_record
from shared.settings import Settings

log = get_logger(__name__)
_LEASE_ID = "outbox-relay"
# Parked for a topic that did not exist: requeued when it does. Every other reason waits for an
# operator, since sending the same bytes again would fail the same way.
TOPIC_MISSING = "TOPIC_MISSING"
UNDECLARED = "UNDECLARED"
_EVENT_TYPE_HEADER = "ce_type"
_HEADER_OVERHEAD = 64  # bytes of record framing per header, counted generously


@dataclass(frozen=True)
class _Sent:
    """A record handed to the producer, and its municipality's view if it has one."""

    doc: dict[str, Any]
    future: asyncio.Future[Any]
    view: asyncio.Future[Any] | None


class _Parked(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# Failures of the producer's session, not of the record: after a broker restart the broker may no
# longer know the idempotent producer's id or expect another sequence number. The producer cannot
# go on (aiokafka does not reset its sequences); a new one sends the same records again, which
# consumers deduplicate by event id. Parking them, as before, lost them from the flow.
_PRODUCER_SESSION_LOST = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerClosed,
)


def _producer_session_lost(error: BaseException) -> bool:
    return isinstance(error, _PRODUCER_SESSION_LOST)


def _is_transient(error: BaseException) -> bool:
    """A failure waiting cures: the record stays in the outbox and is sent again."""
    if isinstance(error, KafkaConnectionError | KafkaTimeoutError | ConnectionError):
        return True
    if _producer_session_lost(error):
        return True
    return isinstance(error, KafkaError) and bool(getattr(error, "retriable", False))


def record_size(doc: dict[str, Any]) -> int:
    """What a stored record will weigh on the broker, generously."""
    key = doc.get("key") or b""
    headers = doc.get("headers", [])
    return (
        len(bytes(doc["value"]))
        + len(bytes(key))
        + sum(len(str(name)) + len(bytes(value)) + _HEADER_OVERHEAD for name, value in headers)
    )


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
        # Topics with records parked because the topic was missing: later records for them are
        # parked behind those, so a partner's stream keeps its order once it is created.
        self._parked_topics: set[str] = set()
        self._parked_retry_at = 0.0
        # Topics the broker refused to create: their records are parked, not retried.
        self._uncreatable: set[str] = set()
        self._declared: set[str] = set()
        self._dead_letter_topic = settings.topic(topics.dead_letter_topic(service))

    def declare(self, event_types: set[str]) -> None:
        """The event types this service publishes: the only ones the relay will send."""
        self._declared |= event_types

    def wake(self) -> None:
        """A handler committed new outbox records: publish now rather than at the next poll."""
        self._wake.set()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **client_kwargs(self.settings),
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            max_batch_size=256 * 1024,
            max_request_size=max(1_048_576, self.settings.relay_max_record_bytes + 65_536),
            request_timeout_ms=15_000,
        )

    async def _renew_producer(self) -> None:
        """A new producer (a new id and sequences) after the broker forgot the old one's."""
        renewed = self._new_producer()
        # Started before the old one goes: while the broker is still away this raises, the old
        # producer stays, its records are refused again and the next round tries anew.
        await renewed.start()
        old, self._producer = self._producer, renewed
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        self.metrics.outbox_producer_renewed.labels(service=self.service).inc()
        log.warning("outbox relay renewed its producer: the broker lost the producer's session")

    async def start(self) -> None:
        self._producer = self._new_producer()
        await self._producer.start()
        self._parked_topics = set(await self.db.parked.distinct("topic", {"reason": TOPIC_MISSING}))
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    def alive(self) -> bool:
        """The relay's task runs (readiness fails if it ended while the service runs)."""
        return self._task is not None and (self._stopping or not self._task.done())

    async def oldest_pending_seconds(self) -> float | None:
        """How long the oldest unpublished record has waited, or None if none waits."""
        try:
            oldest = await self.db.outbox.find_one({}, {"created_at": 1}, sort=[("_id", 1)])
        except PyMongoError:
            return None
        seconds = 0.0
        if oldest is not None and isinstance(oldest.get("created_at"), datetime):
            created: datetime = oldest["created_at"]
            if created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            seconds = max(0.0, (datetime.now(UTC) - created).total_seconds())
        self.metrics.outbox_oldest_seconds.labels(service=self.service).set(seconds)
        return seconds if oldest is not None else None

    async def stop(self, deadline_seconds: float) -> int:
        """Publish what is pending (within the deadline), then stop. Returns records left."""
        self._stopping = True
        self._wake.set()
        if self._task is not None and not self._task.done():
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
                    await self._retry_parked()
                backoff = 0.2
                if published:
                    continue  # there may be more: keep going without waiting
            except Exception as error:  # the relay never stops: whatever failed, try again
                log.warning(
                    "outbox relay round failed; retrying",
                    error=repr(error) if _is_transient(error) else describe_failure(error),
                    retry_in=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.relay_poll_ms / 1000)
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one round of the outbox in order. Returns how many records left it."""
        assert self._producer is not None
        batch = (
            await self.db.outbox.find({})
            .sort("_id", 1)
            .limit(self.settings.relay_batch_size)
            .to_list()
        )
        if not batch:
            self.metrics.outbox_pending.labels(service=self.service).set(0)
            return 0
        existing = await self._existing_topics(batch)
        sends: list[_Sent] = []
        parked: list[tuple[dict[str, Any], _Parked]] = []
        refused_session = False
        for doc in batch:
            try:
                future = await self._send(doc, existing)
                view = await self._send_view(doc, existing)
            except _Parked as problem:
                parked.append((doc, problem))
                continue
            except Exception as error:
                if _is_transient(error):
                    refused_session = _producer_session_lost(error)
                    break  # this one and those behind it wait for the next round
                parked.append((doc, _Parked("NOT_PUBLISHABLE", describe_failure(error))))
                continue
            sends.append(_Sent(doc, future, view))
        done, refused, session_lost = await self._settle(sends)
        if session_lost or refused_session:
            await self._renew_producer()
        parked.extend(refused)
        if parked:
            await self._park(parked)
        gone = [*done, *(doc for doc, _ in parked)]
        if gone:
            # Acknowledged by the broker, or parked: the records leave the outbox. Nothing sent
            # lingers here (a dead letter of a referral holds a clear personnummer), and a
            # collection of pending records only needs its _id index. (One delete per record:
            # on the MongoDB-protocol server measured in bench/, faster than one $in delete.)
            await self.db.outbox.bulk_write(
                [DeleteOne({"_id": doc["_id"]}) for doc in gone], ordered=False
            )
        self.metrics.outbox_published.labels(service=self.service).inc(len(done))
        return len(gone)

    async def _send(self, doc: dict[str, Any], existing: set[str]) -> asyncio.Future[Any]:
        assert self._producer is not None
        topic = doc["topic"]
        self._check_declared(doc)
        if topic in self._uncreatable:
            raise _Parked("TOPIC_REFUSED", "the broker refused to create the topic")
        if topic in self._parked_topics:
            raise _Parked(TOPIC_MISSING, "behind earlier records parked for a missing topic")
        if topic not in existing:
            raise _Parked(TOPIC_MISSING, "the topic does not exist")
        size = record_size(doc)
        if size > self.settings.relay_max_record_bytes:
            raise _Parked(
                "TOO_LARGE",
                f"{size} bytes, more than the {self.settings.relay_max_record_bytes} allowed",
            )
        key = bytes(doc["key"]) if doc.get("key") is not None else None
        # A sealed record goes out sealed, its wrapped key beside it (shared/outbox_seal.py).
        future: asyncio.Future[Any] = await self._producer.send(
            topic,
            value=bytes(doc["value"]),
            key=key,
            headers=[(name, bytes(value)) for name, value in doc.get("headers", [])]
            + seal_headers(doc),
        )
        return future

    def _check_declared(self, doc: dict[str, Any]) -> None:
        headers = {name: bytes(value) for name, value in doc.get("headers", [])}
        if H_CODE in headers:
            # A dead letter keeps the original's headers (its ce_type included): what makes it
            # this service's is the topic.
            if doc["topic"] != self._dead_letter_topic:
                raise _Parked(UNDECLARED, f"a dead letter for {doc['topic']}, not this service's")
            return
        event_type = headers.get(_EVENT_TYPE_HEADER)
        if event_type is None:
            raise _Parked(UNDECLARED, "neither an event nor a dead letter of this service")
        if event_type.decode(errors="replace") not in self._declared:
            raise _Parked(
                UNDECLARED,
                f"{event_type.decode(errors='replace')[:200]} is not among the event types "
                f"{self.service} declares",
            )

    async def _send_view(
        self, doc: dict[str, Any], existing: set[str]
    ) -> asyncio.Future[Any] | None:
        """The municipality's view of the event, derived from it, on the municipality's own
        stream. One that cannot be derived or sent is parked alone; the event still goes."""
        view_topic = doc.get("view_topic")
        # A municipality without its stream (not onboarded where an operator owns the topics)
        # misses the view; its residents' events still flow.
        if not view_topic or view_topic not in existing:
            return None
        assert self._producer is not None
        try:
            view = self._view_of(doc, view_topic)
            future: asyncio.Future[Any] = await self._producer.send(
                view.topic, value=view.value, key=view.key, headers=list(view.headers)
            )
        except Exception as error:
            if _is_transient(error):
                raise
            problem = error if isinstance(error, _Parked) else None
            await self._park_view(doc, problem or _Parked("VIEW_INVALID", describe_failure(error)))
            return None
        return future

    def _view_of(self, doc: dict[str, Any], view_topic: str) -> OutboxRecord:
        view = resident_record(opened(self.db.outbox_seal, doc), view_topic, self.settings)
        size = record_size(view.to_document(datetime.now(UTC)))
        if size > self.settings.relay_max_record_bytes:
            raise _Parked("TOO_LARGE", f"the view has {size} bytes")
        return view

    def _view_refused(self, doc: dict[str, Any], error: BaseException) -> None:
        self.metrics.outbox_parked.labels(service=self.service, reason="VIEW_REFUSED").inc()
        log.error(
            "the broker refused a municipality's view",
            view_topic=doc.get("view_topic"),
            error=describe_failure(error),
        )

    async def _settle(
        self, sends: list[_Sent]
    ) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], _Parked]], bool]:
        """The broker's answer to each record: acknowledged, refused for good (parked), or not
        yet (left in the outbox for the next round); and whether the producer's session with
        the broker was lost. A record whose view was not sent yet stays, to go with it again."""
        futures = [f for sent in sends for f in (sent.future, sent.view) if f is not None]
        answers = iter(await asyncio.gather(*futures, return_exceptions=True))
        done: list[dict[str, Any]] = []
        refused: list[tuple[dict[str, Any], _Parked]] = []
        session_lost = False
        for sent in sends:
            result = next(answers)
            view = next(answers) if sent.view is not None else None
            for answer in (result, view):
                if isinstance(answer, BaseException) and _producer_session_lost(answer):
                    session_lost = True
            if isinstance(result, BaseException):
                if not _is_transient(result):
                    refused.append(
                        (sent.doc, _Parked(type(result).__name__, describe_failure(result)))
                    )
                continue
            if isinstance(view, BaseException):
                if _is_transient(view):
                    continue  # sent again, with its view
                self._view_refused(sent.doc, view)
            done.append(sent.doc)
        return done, refused, session_lost

    async def _park(self, parked: list[tuple[dict[str, Any], _Parked]]) -> None:
        now = datetime.now(UTC)
        for doc, problem in parked:
            if problem.reason == TOPIC_MISSING:
                self._parked_topics.add(doc["topic"])
            self.metrics.outbox_parked.labels(service=self.service, reason=problem.reason).inc()
            log.error(
                "record parked: it cannot be published",
                topic=doc["topic"],
                reason=problem.reason,
                detail=problem.detail,
                record=str(doc["_id"]),
            )
        operations = [
            InsertOne({**doc, "reason": p.reason, "detail": p.detail, "parked_at": now})
            for doc, p in parked
        ]
        try:
            await self.db.parked.bulk_write(operations, ordered=False)
        except BulkWriteError as error:
            # Parked before, by a round that ended before it removed them from the outbox.
            if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
                raise

    async def _park_view(self, doc: dict[str, Any], problem: _Parked) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self.db.parked.insert_one(
                {
                    "_id": f"view:{doc['_id']}",
                    "topic": doc["view_topic"],
                    "source_record": str(doc["_id"]),
                    "reason": problem.reason,
                    "detail": problem.detail,
                    "parked_at": datetime.now(UTC),
                }
            )
        self.metrics.outbox_parked.labels(service=self.service, reason=problem.reason).inc()
        log.error(
            "a municipality's view is parked: it cannot be derived or sent",
            view_topic=doc["view_topic"],
            reason=problem.reason,
            detail=problem.detail,
        )

    async def _existing_topics(self, batch: list[dict[str, Any]]) -> set[str]:
        """The topics of this batch that exist. A missing one is created where the service may
        create topics; where an operator owns them, its records are parked until it exists."""
        named = {doc["topic"] for doc in batch} | {
            doc["view_topic"] for doc in batch if doc.get("view_topic")
        }
        unknown = sorted(named - self._known_topics - self._uncreatable)
        if unknown:
            existing = set(await topic_partitions(self.settings, unknown))
            missing = [topic for topic in unknown if topic not in existing]
            if missing and self.settings.create_topics:
                existing |= await self._create(missing)
            self._known_topics |= existing
        return self._known_topics & named

    async def _create(self, missing: list[str]) -> set[str]:
        """Create the topics, one by one if need be: a name the broker refuses (not a legal
        topic name, not the service's to create) must not keep the others from being made."""
        try:
            await ensure_topics(self.settings, {topic: {} for topic in missing})
        except (RuntimeError, KafkaError):
            created = set()
            for topic in missing:
                try:
                    await ensure_topics(self.settings, {topic: {}})
                except (RuntimeError, KafkaError) as error:
                    log.error(  # noqa: TRY400 - the broker's answer is the whole story
                        "topic cannot be created", topic=topic, error=repr(error)
                    )
                    self._uncreatable.add(topic)
                else:
                    created.add(topic)
            return created
        return set(missing)

    async def _retry_parked(self) -> None:
        """Now and then, put records parked for a missing topic back into the outbox, in their
        order, once their topic exists."""
        if not self._parked_topics:
            return
        now = asyncio.get_running_loop().time()
        if now < self._parked_retry_at:
            return
        self._parked_retry_at = now + self.settings.relay_parked_retry_seconds
        existing = set(await topic_partitions(self.settings, sorted(self._parked_topics)))
        for topic in sorted(existing):
            await self.requeue({"topic": topic, "reason": TOPIC_MISSING})
            self._parked_topics.discard(topic)
            self._known_topics.add(topic)
            self.wake()

    async def requeue(self, query: dict[str, Any]) -> int:
        return await requeue(self.db, query)

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


async def requeue(db: ServiceDatabase, query: dict[str, Any]) -> int:
    """Move parked records matching `query` back into the outbox under their original ids, so
    they are published in the order they were first committed (by the relay, or by an operator
    after a fix). Parked views are not requeued (their event was published): they are dropped."""
    moved = 0
    async for doc in db.parked.find(query).sort("_id", 1):
        if not str(doc["_id"]).startswith("view:"):
            record = {
                key: value
                for key, value in doc.items()
                if key not in {"reason", "detail", "parked_at"}
            }
            with contextlib.suppress(DuplicateKeyError):
                await db.outbox.insert_one(record)
            moved += 1
        await db.parked.delete_one({"_id": doc["_id"]})
    return moved


def resident_record(value: bytes, topic: str, settings: Settings) -> OutboxRecord:
    """The municipality's view of a published event, derived from the event's own bytes: the
    same id every time it is derived, so a republished record republishes the same view."""
    envelope = parse_event(value)
    view = resident_view(envelope)
    if view is None:
        raise ValueError("only events with a municipality's view carry a view topic")
    view = audience_view(view, pseudonyms_of(settings))
    copy = new_event(
        view,
        source=envelope.source,
        municipality=view.municipality,
        cause=envelope,
        time=envelope.time,
    )
    return event_record(settings, copy, topic.removeprefix(settings.topic_prefix))
