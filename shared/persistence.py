"""MongoDB access shared by the services: the client, the inbox and outbox, and the transaction
in which a handler's state change, the ids it applied and the events it caused are written at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from bson import ObjectId
from pymongo import AsyncMongoClient, WriteConcern, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)
from pymongo.read_concern import ReadConcern

from shared.contracts.envelope import Envelope
from shared.contracts.registry import encode_event
from shared.contracts.scoped import VISIBLE_FIELDS
from shared.contracts.topics import municipality_events_topic
from shared.expiry import days, ensure_expiry
from shared.outbox_seal import OutboxSeal
from shared.settings import Settings
from shared.tracing import trace_headers

Document = dict[str, Any]
T = TypeVar("T")

# Acknowledged by a majority and journaled: what the outbox and inbox promise rests on it.
DURABLE = WriteConcern(w="majority", j=True)


def mongo_client(
    settings: Settings, listeners: Sequence[monitoring.CommandListener] = ()
) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.mongodb_url.get_secret_value(),
        event_listeners=list(listeners),
        tz_aware=True,
        tzinfo=UTC,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
        retryWrites=True,
        w="majority",
        journal=True,
    )


def is_infrastructure_error(error: BaseException) -> bool:
    """The database is unreachable or failing over: waiting helps, dead-lettering would not."""
    if isinstance(
        error,
        AutoReconnect
        | ConnectionFailure
        | NetworkTimeout
        | NotPrimaryError
        | ServerSelectionTimeoutError
        | WriteConcernError,
    ):
        return True
    if isinstance(error, PyMongoError) and (
        error.has_error_label("TransientTransactionError")
        or error.has_error_label("UnknownTransactionCommitResult")
        or error.has_error_label("RetryableWriteError")
    ):
        return True
    return isinstance(error, OperationFailure) and error.code in {
        # InternalError: how the local stack's SecantusDB reports a write conflict found at
        # commit ("conflict between concurrent operations"); MongoDB reports 112 below. Retried
        # within the same bounded window as any infrastructure error, then handed back.
        1,
        6,  # HostUnreachable
        7,  # HostNotFound
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        112,  # WriteConflict
        189,  # PrimarySteppedDown
        251,  # NoSuchTransaction
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
    }


def is_duplicate_key(error: BaseException) -> bool:
    """A unique index refused a write (error 11000), alone or inside a bulk write."""
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        return any(e.get("code") == 11000 for e in error.details.get("writeErrors", []))
    return isinstance(error, OperationFailure) and error.code == 11000


@dataclass(frozen=True)
class OutboxRecord:
    """One Kafka record waiting to be published: an event, or a dead letter."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    # The resident's municipality gets a view of this event on its own stream, which the relay
    # derives from this very record when it publishes it (shared/contracts/scoped.py).
    resident_view_topic: str | None = None

    def to_document(self, now: datetime) -> Document:
        document: Document = {
            "_id": ObjectId(),  # increasing within a process: the relay publishes in this order
            "topic": self.topic,
            "key": self.key,
            "value": self.value,
            "headers": [[name, value] for name, value in self.headers],
            "created_at": now,
        }
        if self.resident_view_topic is not None:
            document["view_topic"] = self.resident_view_topic
        return document


@dataclass
class Transaction:
    """What one handler invocation stages; written atomically with its state changes."""

    # None when the database is held in memory (shared/memory_database.py): no server session.
    session: AsyncClientSession | None
    settings: Settings
    now: datetime
    applied_ids: list[str] = field(default_factory=list)
    outgoing: list[OutboxRecord] = field(default_factory=list)
    # How each input ended (applied, rejected, dead_lettered), where it was on the broker and,
    # for a refusal or a dead letter, its reason code: kept in its inbox document so every
    # input's end can be accounted for, and its sender told (the gateway's status resource).
    ends: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    # Refused claims and other decisions an operator must be able to look back on.
    audit_entries: list[Document] = field(default_factory=list)

    def emit(self, envelope: Envelope[Any], topic: str | None = None) -> None:
        """Stage an event for the outbox: on its type's topic, or `topic` for streams whose
        name depends on the event (a partner's own stream)."""
        record = event_record(self.settings, envelope, topic)
        if topic is None and envelope.municipality and envelope.type in VISIBLE_FIELDS:
            view_topic = self.settings.topic(municipality_events_topic(envelope.municipality))
            record = replace(record, resident_view_topic=view_topic)
        self.outgoing.append(record)

    def emit_record(self, record: OutboxRecord) -> None:
        self.outgoing.append(record)

    def unstage(self, needles: Iterable[str]) -> int:
        """Take back the records staged so far whose key or event names any of `needles`."""
        marks = _marks(needles)
        kept = [r for r in self.outgoing if not _names_any(marks, r.key, r.value)]
        dropped, self.outgoing = len(self.outgoing) - len(kept), kept
        return dropped

    def mark(self, inbox_id: str, end: str, origin: str, reason: str | None = None) -> None:
        """This input is done with: its id goes into the inbox with how it ended."""
        self.applied_ids.append(inbox_id)
        self.ends[inbox_id] = (end, origin, reason)

    def audit(self, entry: Document) -> None:
        self.audit_entries.append({"at": self.now, **entry})

    def inbox_documents(self) -> list[Document]:
        documents = []
        for inbox_id in self.applied_ids:
            document: Document = {"_id": inbox_id, "at": self.now}
            if inbox_id in self.ends:
                document["end"], document["origin"], reason = self.ends[inbox_id]
                if reason is not None:
                    document["reason"] = reason
            documents.append(document)
        return documents


def event_record(
    settings: Settings, envelope: Envelope[Any], topic: str | None = None
) -> OutboxRecord:
    return OutboxRecord(
        topic=settings.topic(topic or type(envelope.data).TOPIC),
        key=envelope.subject.encode(),
        value=encode_event(envelope),
        headers=(
            ("content-type", b"application/cloudevents+json"),
            ("ce_id", str(envelope.id).encode()),
            ("ce_type", envelope.type.encode()),
            # FastStream's name for it: its tracing links a batch's records by this header.
            ("correlation_id", (envelope.correlationid or str(envelope.id)).encode()),
            *trace_headers(),
        ),
    )


def _marks(needles: Iterable[str]) -> list[bytes]:
    return [needle.encode() for needle in needles if needle]


def _names_any(marks: Sequence[bytes], key: bytes | None, value: bytes | None) -> bool:
    """Whether a record's key or bytes name any of `marks` (an erased person's ids)."""
    return any(mark in bytes(key or b"") or mark in bytes(value or b"") for mark in marks)


class StateDatabase(Protocol):
    """What stores and the batch consumer need of a database: the server's (ServiceDatabase), or
    one held in memory for folding history fast (shared/memory_database.py)."""

    def collection(self, name: str) -> AsyncCollection[Document]: ...

    async def purge_unsent(self, needles: Iterable[str], session: Any) -> int: ...

    async def already_applied(self, ids: list[str]) -> set[str]: ...

    async def in_transaction(
        self, work: Callable[[Transaction], Awaitable[T]], now: datetime | None = None
    ) -> T: ...


class ServiceDatabase:
    """A service's own database, with the two collections every service has."""

    def __init__(self, client: AsyncMongoClient[Document], settings: Settings, service: str):
        self.client = client
        self.settings = settings
        self.service = service
        self.db: AsyncDatabase[Document] = client.get_database(
            settings.database_name(service), write_concern=DURABLE
        )
        # Ids of events (or, for unreadable records, record coordinates) already applied.
        self.inbox: AsyncCollection[Document] = self.db["inbox"]
        self.outbox: AsyncCollection[Document] = self.db["outbox"]
        self.leases: AsyncCollection[Document] = self.db["leases"]
        # Records the relay could not publish, with the reason (shared/messaging/relay.py).
        self.parked: AsyncCollection[Document] = self.db["outbox_parked"]
        self.audit: AsyncCollection[Document] = self.db["audit"]
        # Seals the outbox records that must not lie in clear in the database (intake's dead
        # letters); set by the service that has them (shared/outbox_seal.py).
        self.outbox_seal: OutboxSeal | None = None

    def collection(self, name: str) -> AsyncCollection[Document]:
        return self.db[name]

    async def ensure_indexes(self) -> None:
        # The inbox's _id is the unique index; the outbox holds only unsent records, read in _id
        # order. Neither needs another index, and every index costs each handler's write: the
        # one earlier versions kept on the outbox goes. The inbox's expiry, where it is set, is
        # worth its cost: without it the inbox grows by every event for ever.
        if "sent_at_1__id_1" in await self.outbox.index_information():
            await self.outbox.drop_index("sent_at_1__id_1")
        await ensure_expiry(self.inbox, "at", days(self.settings.inbox_retention_days))
        await ensure_expiry(
            self.audit, "at", days(self.settings.audit_retention_days), indexed_otherwise=True
        )

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    async def purge_unsent(self, needles: Iterable[str], session: Any) -> int:
        """Delete the unsent records (in the outbox, or parked by the relay, such as those held
        for a partner whose topic does not exist yet) whose key or event names any of `needles`:
        an erased person's records must not be published after the erasure. Both collections
        hold only what has not gone out, so reading them whole stays small."""
        marks = _marks(needles)
        if not marks:
            return 0
        purged = 0
        for collection in (self.outbox, self.parked):
            doomed = [
                doc["_id"]
                async for doc in collection.find({}, {"key": 1, "value": 1}, session=session)
                if _names_any(marks, doc.get("key"), doc.get("value"))
            ]
            if doomed:
                result = await collection.delete_many({"_id": {"$in": doomed}}, session=session)
                purged += result.deleted_count
        return purged

    async def already_applied(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        found = await self.inbox.find({"_id": {"$in": ids}}, {"_id": 1}).to_list()
        return {str(doc["_id"]) for doc in found}

    async def in_transaction(
        self, work: Callable[[Transaction], Awaitable[T]], now: datetime | None = None
    ) -> T:
        """Run `work`, then write its inbox ids and outbox records, all in one transaction.

        PyMongo's with_transaction retries the whole callback on TransientTransactionError (such
        as a WriteConflict with a concurrent handler) and the commit on an unknown result.
        """

        async def callback(session: AsyncClientSession) -> T:
            tx = Transaction(session=session, settings=self.settings, now=now or datetime.now(UTC))
            result = await work(tx)
            if tx.applied_ids:
                await self.inbox.insert_many(tx.inbox_documents(), session=session)
            if tx.audit_entries:
                await self.audit.insert_many(tx.audit_entries, session=session)
            if tx.outgoing:
                documents = [record.to_document(tx.now) for record in tx.outgoing]
                if self.outbox_seal is not None:
                    documents = [self.outbox_seal.seal(document) for document in documents]
                await self.outbox.insert_many(documents, session=session)
            return result

        async with self.client.start_session() as session:
            return await session.with_transaction(
                callback,
                read_concern=ReadConcern("snapshot"),
                write_concern=DURABLE,
                max_commit_time_ms=30_000,
            )
