"""Applying fetched batches: nothing lost, nothing applied twice, nothing blocking for long.

For each batch the broker hands over:
1. parse every record; what is not an event of the contract is dead-lettered with its reason;
2. skip what the inbox has seen (by event id, or by record coordinates for unreadable records);
3. apply the rest in ONE transaction: state changes, inbox ids and outbox records together;
4. only then does the caller commit the offsets.
If the batch fails for a reason other than the infrastructure, it is split by record key and
retried message by message with bounded exponential backoff; keys run concurrently, so one
participant's poison message delays only that participant, and after the last attempt the
message goes to the dead-letter topic. If the database is unreachable, the batch waits (with
backoff) up to a deadline and is then handed back to the broker to be fetched again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shared.contracts import topics
from shared.contracts.envelope import Envelope
from shared.contracts.registry import UnreadableEvent, parse_event
from shared.messaging.dead_letters import dead_letter_record
from shared.messaging.records import InboundRecord, Received
from shared.observability import Metrics, get_logger
from shared.persistence import (
    StateDatabase,
    Transaction,
    is_duplicate_key,
    is_infrastructure_error,
)
from shared.settings import Settings

T = TypeVar("T")
log = get_logger(__name__)


class InfrastructureUnavailable(RuntimeError):
    """The database stayed unreachable for the whole retry window."""


@dataclass
class HandlerContext:
    """What a handler may do besides changing its own state: emit events, reject input."""

    tx: Transaction
    service: str
    dead_letter_topic: str
    rejected: set[str] = field(default_factory=set)

    @property
    def session(self) -> Any:
        return self.tx.session

    @property
    def now(self) -> datetime:
        return self.tx.now

    def emit(self, envelope: Envelope[Any], topic: str | None = None) -> None:
        self.tx.emit(envelope, topic)

    def reject(self, received: Received, code: str, reason: str) -> None:
        """Bad input (an invalid personnummer, an unknown programme): dead-letter the original
        record with its reason. Its event id is not marked applied, so a replay after a fix runs."""
        self.rejected.add(received.record.coordinates)
        self.tx.emit_record(
            dead_letter_record(
                self.dead_letter_topic, self.service, received.record, code, reason, 1, self.now
            )
        )
        received.log.warning("input rejected", code=code, reason=reason)


@dataclass
class _Applied:
    applied: int = 0
    dead_lettered: list[str] = field(default_factory=list)


class BatchHandler(Protocol):
    async def __call__(self, batch: Sequence[Received], ctx: HandlerContext) -> None: ...


UnreadableHook = Callable[[InboundRecord, UnreadableEvent, HandlerContext], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One subscriber of a service: the topic it reads, the event types it accepts, its handler.

    On an inbound topic (one outside systems publish to) a message of any other type is bad input
    and is dead-lettered. On the services' own topics, types a subscriber does not handle
    (including newer ones it does not know yet) are skipped, so producers can add event types.
    """

    name: str
    topic: str
    accepts: frozenset[str]
    handler: BatchHandler
    on_unreadable: UnreadableHook | None = None

    @property
    def inbound(self) -> bool:
        return self.topic in topics.INBOUND_TOPICS


class BatchConsumer:
    """Applies batches for one subscription of one service."""

    def __init__(
        self,
        db: StateDatabase,
        settings: Settings,
        metrics: Metrics,
        service: str,
        subscription: Subscription,
        on_committed: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.service = service
        self.subscription = subscription
        self.dead_letter_topic = settings.topic(topics.dead_letter_topic(service))
        self._on_committed = on_committed
        self._labels = {"service": service, "subscriber": subscription.name}

    async def process(self, raw_records: Sequence[Any]) -> None:
        started = time.perf_counter()
        records = [InboundRecord.from_consumer_record(raw) for raw in raw_records]
        readable, unreadable = self._parse(records)
        readable = _once_each(readable)
        if readable or unreadable:
            try:
                # Optimistically: the inbox's unique index refuses anything applied before, which
                # aborts the whole transaction. Only then is the inbox asked which ones, since a
                # query for every id of every batch costs more than the batch itself.
                try:
                    outcome = await self._apply_batch(readable, unreadable)
                except Exception as error:
                    if not is_duplicate_key(error):
                        raise
                    readable, unreadable = await self._skip_applied(readable, unreadable)
                    outcome = await self._apply_batch(readable, unreadable)
                self._count(outcome)
            except InfrastructureUnavailable:
                raise
            except Exception as error:
                log.warning(
                    "batch failed; applying its messages one by one",
                    error=repr(error),
                    records=len(records),
                    subscriber=self.subscription.name,
                )
                await self._one_by_one(readable, unreadable)
            self._on_committed()
        self.metrics.batch_seconds.labels(**self._labels).observe(time.perf_counter() - started)

    async def _apply_batch(
        self,
        readable: Sequence[Received],
        unreadable: Sequence[tuple[InboundRecord, UnreadableEvent]],
    ) -> _Applied:
        if not readable and not unreadable:
            return _Applied()
        return await self._with_infrastructure_retry(
            lambda: self.db.in_transaction(lambda tx: self._apply(tx, readable, unreadable))
        )

    def _parse(
        self, records: Sequence[InboundRecord]
    ) -> tuple[list[Received], list[tuple[InboundRecord, UnreadableEvent]]]:
        readable: list[Received] = []
        unreadable: list[tuple[InboundRecord, UnreadableEvent]] = []
        accepts = self.subscription.accepts
        for record in records:
            try:
                event = parse_event(record.value)
            except UnreadableEvent as error:
                if error.code == "UNKNOWN_EVENT_TYPE" and not self.subscription.inbound:
                    continue
                unreadable.append((record, error))
                continue
            if event.type in accepts:
                readable.append(Received(record=record, event=event))
            elif self.subscription.inbound:
                unreadable.append(
                    (
                        record,
                        UnreadableEvent("UNKNOWN_EVENT_TYPE", f"{event.type} not accepted here"),
                    )
                )
        return readable, unreadable

    async def _skip_applied(
        self,
        readable: list[Received],
        unreadable: list[tuple[InboundRecord, UnreadableEvent]],
    ) -> tuple[list[Received], list[tuple[InboundRecord, UnreadableEvent]]]:
        ids = [item.record.coordinates for item in readable]
        ids += [str(item.event.id) for item in readable]
        ids += [record.coordinates for record, _ in unreadable]
        seen = await self._with_infrastructure_retry(lambda: self.db.already_applied(ids))
        fresh: list[Received] = []
        for item in readable:
            event_id = str(item.event.id)
            if event_id in seen or item.record.coordinates in seen:
                continue
            seen.add(event_id)  # the same event twice within one batch counts once
            fresh.append(item)
        fresh_unreadable = [pair for pair in unreadable if pair[0].coordinates not in seen]
        skipped = len(readable) - len(fresh) + len(unreadable) - len(fresh_unreadable)
        if skipped:
            self.metrics.duplicates.labels(**self._labels).inc(skipped)
            log.info("duplicates skipped", count=skipped, subscriber=self.subscription.name)
        return fresh, fresh_unreadable

    def _count(self, outcome: _Applied) -> None:
        """Metrics are counted once the transaction committed, not per attempt of it."""
        self.metrics.applied.labels(**self._labels).inc(outcome.applied)
        for code in outcome.dead_lettered:
            self.metrics.dead_lettered.labels(**self._labels, code=code).inc()

    async def _apply(
        self,
        tx: Transaction,
        readable: Sequence[Received],
        unreadable: Sequence[tuple[InboundRecord, UnreadableEvent]],
    ) -> _Applied:
        ctx = HandlerContext(tx=tx, service=self.service, dead_letter_topic=self.dead_letter_topic)
        outcome = _Applied()
        for record, error in unreadable:
            if self.subscription.on_unreadable is not None:
                await self.subscription.on_unreadable(record, error, ctx)
            tx.emit_record(
                dead_letter_record(
                    self.dead_letter_topic,
                    self.service,
                    record,
                    error.code,
                    error.reason,
                    1,
                    tx.now,
                )
            )
            tx.applied_ids.append(record.coordinates)
            outcome.dead_lettered.append(error.code)
            log.warning(
                "unreadable message dead-lettered",
                code=error.code,
                reason=error.reason,
                origin=record.coordinates,
            )
        if readable:
            await self.subscription.handler(readable, ctx)
        for item in readable:
            if item.record.coordinates in ctx.rejected:
                tx.applied_ids.append(item.record.coordinates)
                outcome.dead_lettered.append("REJECTED")
            else:
                tx.applied_ids.append(str(item.event.id))
                outcome.applied += 1
        return outcome

    async def _one_by_one(
        self,
        readable: Sequence[Received],
        unreadable: Sequence[tuple[InboundRecord, UnreadableEvent]],
    ) -> None:
        for pair in unreadable:
            self._count(
                await self._with_infrastructure_retry(
                    lambda pair=pair: self.db.in_transaction(  # type: ignore[misc]
                        lambda tx: self._apply(tx, [], [pair])
                    )
                )
            )
        groups: dict[bytes, list[Received]] = {}
        for item in readable:
            groups.setdefault(item.record.ordering_key, []).append(item)
        # Bounded concurrency: keys proceed side by side, each key strictly in order.
        gate = asyncio.Semaphore(8)

        async def run_group(items: list[Received]) -> None:
            async with gate:
                for item in items:
                    await self._apply_with_retries(item)

        await asyncio.gather(*(run_group(items) for items in groups.values()))

    async def _apply_with_retries(self, item: Received) -> None:
        attempt = 0
        ids = [str(item.event.id), item.record.coordinates]
        while True:
            attempt += 1
            if await self._with_infrastructure_retry(lambda: self.db.already_applied(ids)):
                self.metrics.duplicates.labels(**self._labels).inc()
                return
            try:
                outcome = await self._with_infrastructure_retry(
                    lambda: self.db.in_transaction(lambda tx: self._apply(tx, [item], []))
                )
            except InfrastructureUnavailable:
                raise
            except Exception as error:
                if attempt >= self.settings.retry_attempts:
                    await self._dead_letter_failure(item, error, attempt)
                    return
                self.metrics.retries.labels(**self._labels).inc()
                item.log.warning("handler failed; retrying", attempt=attempt, error=repr(error))
                await asyncio.sleep(self._backoff(attempt))
            else:
                self._count(outcome)
                return

    async def _dead_letter_failure(self, item: Received, error: Exception, attempts: int) -> None:
        reason = f"{type(error).__name__}: {error}"

        async def park(tx: Transaction) -> None:
            tx.emit_record(
                dead_letter_record(
                    self.dead_letter_topic,
                    self.service,
                    item.record,
                    "HANDLER_ERROR",
                    reason,
                    attempts,
                    tx.now,
                )
            )
            tx.applied_ids.append(item.record.coordinates)

        await self._with_infrastructure_retry(lambda: self.db.in_transaction(park))
        self.metrics.dead_lettered.labels(**self._labels, code="HANDLER_ERROR").inc()
        item.log.error("message dead-lettered after retries", attempts=attempts, error=reason)

    def _backoff(self, attempt: int) -> float:
        base = self.settings.retry_backoff_ms << (attempt - 1)
        capped = min(base, self.settings.retry_backoff_max_ms)
        return (capped * random.uniform(0.5, 1.0)) / 1000  # noqa: S311 - jitter, not crypto

    async def _with_infrastructure_retry(self, operation: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.settings.infrastructure_retry_seconds
        delay = 0.2
        while True:
            try:
                return await operation()
            except Exception as error:
                if not is_infrastructure_error(error):
                    raise
                if time.monotonic() + delay > deadline:
                    raise InfrastructureUnavailable(repr(error)) from error
                log.warning("database unavailable; waiting", error=repr(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def _once_each(readable: list[Received]) -> list[Received]:
    """The same event twice within one batch (a producer's retry) is applied once."""
    seen: set[str] = set()
    unique = []
    for item in readable:
        event_id = str(item.event.id)
        if event_id not in seen:
            seen.add(event_id)
            unique.append(item)
    return unique
