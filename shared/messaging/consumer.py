"""Applying fetched batches: nothing lost, nothing applied twice, nothing blocking for long.

For each batch the broker hands over:
1. parse every record; what is not an event of the contract is dead-lettered with its reason;
2. skip what the inbox has seen (by event id, or by record coordinates for unreadable records);
3. apply the rest in ONE transaction: state changes, inbox ids and outbox records together;
4. only then does the caller commit the offsets.
On an inbound topic the tenant is known from the topic (shared/contracts/tenants.py): each record
is attributed to it before a handler sees it, and what the consumer or a handler refuses is
answered on that tenant's own stream. Nothing a sender can put in a record ends this loop: every
record ends applied, rejected with a reason, or dead-lettered with a reason.
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
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_before_delay,
    wait_exponential,
)

from shared.audience import inbound_ids, pseudonyms_of
from shared.contracts import topics
from shared.contracts.answers import InputRejected
from shared.contracts.envelope import Envelope, derive_event_id, new_event
from shared.contracts.registry import UnreadableEvent, parse_event
from shared.contracts.tenants import (
    CHANNEL_OF_SHARED_TOPIC,
    Channel,
    Tenant,
    tenant_of_source,
    tenant_of_topic,
)
from shared.contracts.vocabulary import InputRefusal
from shared.messaging.dead_letters import dead_letter_record
from shared.messaging.failures import describe_failure
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


# Answers in both languages to what the consumer itself refuses, by code.
_ANSWERS: dict[str, tuple[str, str]] = {
    "INVALID_JSON": ("The message is not valid JSON.", "Meddelandet är inte giltig JSON."),
    "SCHEMA_VIOLATION": (
        "The message does not follow the event's schema",
        "Meddelandet följer inte händelsens schema",
    ),
    "UNKNOWN_EVENT_TYPE": (
        "The message is not an event this topic carries.",
        "Meddelandet är inte en händelse som hör till det här ämnet.",
    ),
    "UNKNOWN_TENANT": (
        "The message's source names no municipality, owner or partner.",
        "Meddelandets källa anger ingen kommun, huvudman eller partner.",
    ),
}


@dataclass
class HandlerContext:
    """What a handler may do besides changing its own state: emit events, refuse input."""

    tx: Transaction
    service: str
    dead_letter_topic: str
    # Whether this subscription answers the senders of what it refuses (the service that owns
    # an inbound channel does; others reading it only pass over what they refuse).
    answers: bool = False
    dead_lettered: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def session(self) -> Any:
        return self.tx.session

    @property
    def now(self) -> datetime:
        return self.tx.now

    def emit(self, envelope: Envelope[Any], topic: str | None = None) -> None:
        self.tx.emit(envelope, topic)

    async def purge_unsent(self, db: StateDatabase, needles: Collection[str]) -> int:
        """An erasure: nothing about the person that has not gone out yet goes out after it,
        whether staged in this transaction, waiting in the outbox or parked by the relay (held
        for a partner whose topic does not exist yet). Call it before emitting the erasure's
        own notices."""
        return self.tx.unstage(needles) + await db.purge_unsent(needles, self.session)

    def reject(
        self,
        received: Received,
        code: str,
        reason: str,
        *,
        message_sv: str | None = None,
        answer: bool = True,
    ) -> None:
        """Bad input (an invalid personnummer, an unknown programme): dead-letter the original
        record with its reason and answer its sender. Its event id is not marked applied, so a
        replay after a fix runs."""
        self.dead_lettered[received.record.coordinates] = code
        self.tx.emit_record(
            dead_letter_record(
                self.dead_letter_topic, self.service, received.record, code, reason, 1, self.now
            )
        )
        if answer:
            self._answer(received, code, reason, message_sv or reason)
        received.log.warning("input rejected", code=code, reason=reason)

    def refuse(
        self,
        received: Received,
        code: InputRefusal,
        reason: str,
        *,
        message_sv: str,
        audit: dict[str, Any] | None = None,
    ) -> None:
        """A claim the sender may not make (another tenant's programme, partner, participant or
        placement): not applied, answered to the sender with the reason, and audited. Not a dead
        letter: there is nothing to fix and replay."""
        self.refused[received.record.coordinates] = code.value
        self._answer(received, code.value, reason, message_sv)
        self.tx.audit(
            {
                "action": "refused",
                "service": self.service,
                "code": code.value,
                "tenant": received.tenant.key if received.tenant else None,
                "input_id": str(received.event.id),
                "input_type": received.event.type,
                "origin": received.record.coordinates,
                **(audit or {}),
            }
        )
        received.log.warning("claim refused", code=code.value, reason=reason)

    def _answer(self, received: Received, code: str, reason: str, reason_sv: str) -> None:
        if not self.answers or received.tenant is None:
            return
        answer_input(
            self.tx,
            received.record.coordinates,
            received.tenant,
            code,
            reason,
            reason_sv,
            source=f"/insats/{self.service}",
            event=received.event,
        )


def answer_input(
    tx: Transaction,
    origin: str,
    tenant: Tenant,
    code: str,
    reason: str,
    reason_sv: str,
    *,
    source: str,
    event: Envelope[Any] | None = None,
    input_id: str | None = None,
    input_type: str | None = None,
) -> None:
    """insats.input.rejected.v1 on the tenant's own stream, its id derived from where the input
    was on the broker (`origin`), so handling the same record again answers with the same event.
    The input is named by `event` or, for one refused later, by the id and type it had."""
    try:
        refusal = InputRefusal(code)
    except ValueError:
        refusal = InputRefusal.SCHEMA_VIOLATION
    answer = InputRejected(
        origin=origin,
        input_id=str(event.id) if event is not None else input_id,
        input_type=event.type if event is not None else input_type,
        tenant=tenant.key,
        reason=refusal,
        message=reason[:2_000],
        message_sv=reason_sv[:2_000],
        received_at=tx.now,
    )
    tx.emit(
        new_event(
            answer,
            source=source,
            municipality=None,
            time=tx.now,
            event_id=derive_event_id(origin, InputRejected.TYPE),
        ),
        tenant.answers_topic(),
    )


@dataclass
class _Applied:
    applied: int = 0
    dead_lettered: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Unreadable:
    """A record that is not an event this subscription may apply, and why."""

    record: InboundRecord
    error: UnreadableEvent
    tenant: Tenant | None = None


class BatchHandler(Protocol):
    async def __call__(self, batch: Sequence[Received], ctx: HandlerContext) -> None: ...


UnreadableHook = Callable[
    [InboundRecord, UnreadableEvent, Tenant | None, HandlerContext], Awaitable[None]
]


@dataclass(frozen=True)
class Subscription:
    """One subscriber of a service: what it reads, the event types it accepts, its handler.

    An inbound subscription reads a channel (every tenant's own topic of it, found by pattern,
    and during a migration the channel's shared topic): a message of any other type is bad input
    and is dead-lettered. On the services' own topics, types a subscriber does not handle
    (including newer ones it does not know yet) are skipped, so producers can add event types.
    """

    name: str
    accepts: frozenset[str]
    handler: BatchHandler
    topic: str | None = None
    channel: Channel | None = None
    on_unreadable: UnreadableHook | None = None
    # The service that owns a channel answers the senders of what it refuses; the others that
    # read it pass over what they refuse without a word, so each input is answered once.
    answers: bool = False

    def __post_init__(self) -> None:
        if (self.topic is None) == (self.channel is None):
            raise ValueError("a subscription reads either a topic or an inbound channel")

    @property
    def inbound(self) -> bool:
        return self.channel is not None or self.topic in topics.INBOUND_TOPICS


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
        self.pseudonyms = pseudonyms_of(settings)
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
        readable, unreadable = self._once_each(readable, unreadable)
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
        unreadable: Sequence[_Unreadable],
    ) -> _Applied:
        if not readable and not unreadable:
            return _Applied()
        return await self._with_infrastructure_retry(
            lambda: self.db.in_transaction(lambda tx: self._apply(tx, readable, unreadable))
        )

    def _parse(self, records: Sequence[InboundRecord]) -> tuple[list[Received], list[_Unreadable]]:
        readable: list[Received] = []
        unreadable: list[_Unreadable] = []
        for record in records:
            try:
                outcome = self._read(record)
            except Exception as error:  # anything a sender's bytes provoke ends here
                problem = UnreadableEvent("INVALID_JSON", f"unreadable: {describe_failure(error)}")
                outcome = _Unreadable(record, problem)
            if isinstance(outcome, Received):
                readable.append(outcome)
            elif outcome is not None:
                unreadable.append(outcome)
        return readable, unreadable

    def _read(self, record: InboundRecord) -> Received | _Unreadable | None:
        """One record as this subscription sees it: an event to apply (with its tenant, on an
        inbound channel), an unreadable record to dead-letter, or None to pass over."""
        subscription = self.subscription
        tenant = self._tenant_of_topic(record.topic)
        try:
            event = parse_event(record.value)
        except UnreadableEvent as error:
            if error.code == "UNKNOWN_EVENT_TYPE" and not subscription.inbound:
                return None
            return _Unreadable(record, error, tenant)
        if event.type not in subscription.accepts:
            if not subscription.inbound:
                return None
            return _Unreadable(
                record,
                UnreadableEvent("UNKNOWN_EVENT_TYPE", f"{event.type} not accepted here"),
                tenant,
            )
        if subscription.channel is None:
            return Received(record=record, event=event)
        return self._attribute(record, event, tenant)

    def _attribute(
        self, record: InboundRecord, event: Envelope[Any], tenant: Tenant | None
    ) -> Received | _Unreadable:
        """The event as sent by its tenant: the topic's, or on a shared topic the claimed one;
        with the participant id the tenant's stream showed it turned into the participant's."""
        if tenant is not None:
            sent = event.as_sent_by(tenant.key, tenant.urn, verified=True)
            return Received(
                record=record,
                event=inbound_ids(sent, tenant, pseudonyms=self.pseudonyms),
                tenant=tenant,
            )
        # A shared topic of earlier versions: the only word on the sender is its own.
        claimed = tenant_of_source(event.source)
        if claimed is None:
            return _Unreadable(
                record,
                UnreadableEvent("UNKNOWN_TENANT", "source names no municipality, owner or partner"),
            )
        sent = event.as_sent_by(claimed.key, claimed.urn, verified=False)
        return Received(
            record=record,
            event=inbound_ids(sent, claimed, pseudonyms=self.pseudonyms),
            tenant=claimed,
        )

    def _tenant_of_topic(self, topic: str) -> Tenant | None:
        if self.subscription.channel is None:
            return None
        unprefixed = topic.removeprefix(self.settings.topic_prefix)
        found = tenant_of_topic(unprefixed)
        if found is None:
            if CHANNEL_OF_SHARED_TOPIC.get(unprefixed) != self.subscription.channel:
                log.error("record from an unexpected topic", topic=topic)
            return None
        tenant, channel = found
        return tenant if channel == self.subscription.channel else None

    def _once_each(
        self, readable: list[Received], unreadable: list[_Unreadable]
    ) -> tuple[list[Received], list[_Unreadable]]:
        """The same event twice within one batch (a producer's retry) is applied once."""
        seen: set[str] = set()
        unique = []
        for item in readable:
            if item.inbox_id not in seen:
                seen.add(item.inbox_id)
                unique.append(item)
        skipped = len(readable) - len(unique)
        if skipped:
            self.metrics.duplicates.labels(**self._labels).inc(skipped)
        return unique, unreadable

    async def _skip_applied(
        self,
        readable: list[Received],
        unreadable: list[_Unreadable],
    ) -> tuple[list[Received], list[_Unreadable]]:
        ids = [item.record.coordinates for item in readable]
        ids += [item.inbox_id for item in readable]
        ids += [item.record.coordinates for item in unreadable]
        seen = await self._with_infrastructure_retry(lambda: self.db.already_applied(ids))
        fresh: list[Received] = []
        for item in readable:
            if item.inbox_id in seen or item.record.coordinates in seen:
                continue
            seen.add(item.inbox_id)  # the same event twice within one batch counts once
            fresh.append(item)
        fresh_unreadable = [item for item in unreadable if item.record.coordinates not in seen]
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
        for code in outcome.rejected:
            self.metrics.rejected.labels(**self._labels, code=code).inc()

    async def _apply(
        self,
        tx: Transaction,
        readable: Sequence[Received],
        unreadable: Sequence[_Unreadable],
    ) -> _Applied:
        subscription = self.subscription
        ctx = HandlerContext(
            tx=tx,
            service=self.service,
            dead_letter_topic=self.dead_letter_topic,
            answers=subscription.answers,
        )
        outcome = _Applied()
        for item in unreadable:
            await self._answer_unreadable(item, ctx)
            tx.emit_record(
                dead_letter_record(
                    self.dead_letter_topic,
                    self.service,
                    item.record,
                    item.error.code,
                    item.error.reason,
                    1,
                    tx.now,
                )
            )
            tx.mark(
                item.record.coordinates,
                "dead_lettered",
                item.record.coordinates,
                item.error.code,
            )
            outcome.dead_lettered.append(item.error.code)
            log.warning(
                "unreadable message dead-lettered",
                code=item.error.code,
                reason=item.error.reason,
                origin=item.record.coordinates,
            )
        if readable:
            await subscription.handler(readable, ctx)
        for received in readable:
            origin = received.record.coordinates
            if origin in ctx.dead_lettered:
                tx.mark(origin, "dead_lettered", origin, ctx.dead_lettered[origin])
                outcome.dead_lettered.append(ctx.dead_lettered[origin])
            elif origin in ctx.refused:
                tx.mark(received.inbox_id, "rejected", origin, ctx.refused[origin])
                outcome.rejected.append(ctx.refused[origin])
            else:
                tx.mark(received.inbox_id, "applied", origin)
                outcome.applied += 1
        return outcome

    async def _answer_unreadable(self, item: _Unreadable, ctx: HandlerContext) -> None:
        """Answer the sender of an unreadable record, if it can be named. Whatever goes wrong
        while answering, the record is still dead-lettered: the answer is a courtesy, the dead
        letter the guarantee."""
        if not self.subscription.answers:
            return
        try:
            if self.subscription.on_unreadable is not None:
                await self.subscription.on_unreadable(item.record, item.error, item.tenant, ctx)
            elif item.tenant is not None:
                english, swedish = _ANSWERS.get(item.error.code, _ANSWERS["SCHEMA_VIOLATION"])
                detail = f": {item.error.reason}" if item.error.code == "SCHEMA_VIOLATION" else ""
                answer_input(
                    ctx.tx,
                    item.record.coordinates,
                    item.tenant,
                    item.error.code,
                    f"{english}{detail}",
                    f"{swedish}{detail}",
                    source=f"/insats/{self.service}",
                )
        except Exception as error:
            log.error(  # noqa: TRY400 - the reason without a traceback that may hold input
                "could not answer an unreadable record; dead-lettering it without an answer",
                origin=item.record.coordinates,
                error=describe_failure(error),
            )

    async def _one_by_one(
        self,
        readable: Sequence[Received],
        unreadable: Sequence[_Unreadable],
    ) -> None:
        for one in unreadable:
            self._count(
                await self._with_infrastructure_retry(
                    lambda one=one: self.db.in_transaction(  # type: ignore[misc]
                        lambda tx: self._apply(tx, [], [one])
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
        # A loop of its own, not tenacity's: every attempt first asks the inbox again (a replica
        # may have applied the record meanwhile: a duplicate, not a retry), an unreachable
        # database ends the loop uncounted, and the attempts so far go into the dead letter.
        attempt = 0
        ids = [item.inbox_id, item.record.coordinates]
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
                item.log.warning(
                    "handler failed; retrying", attempt=attempt, error=describe_failure(error)
                )
                await asyncio.sleep(self._backoff(attempt))
            else:
                self._count(outcome)
                return

    async def _dead_letter_failure(self, item: Received, error: Exception, attempts: int) -> None:
        reason = describe_failure(error)

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
            tx.mark(
                item.record.coordinates, "dead_lettered", item.record.coordinates, "HANDLER_ERROR"
            )
            if self.subscription.answers and item.tenant is not None:
                answer_input(
                    tx,
                    item.record.coordinates,
                    item.tenant,
                    InputRefusal.HANDLER_ERROR.value,
                    "Insats could not apply the input; an operator has it in the dead letters.",
                    "Insats kunde inte tillämpa meddelandet; en driftansvarig har det bland de "
                    "felaktiga meddelandena.",
                    source=f"/insats/{self.service}",
                    event=item.event,
                )

        await self._with_infrastructure_retry(lambda: self.db.in_transaction(park))
        self.metrics.dead_lettered.labels(**self._labels, code="HANDLER_ERROR").inc()
        item.log.error("message dead-lettered after retries", attempts=attempts, error=reason)

    def _backoff(self, attempt: int) -> float:
        base = self.settings.retry_backoff_ms << (attempt - 1)
        capped = min(base, self.settings.retry_backoff_max_ms)
        return (capped * random.uniform(0.5, 1.0)) / 1000  # noqa: S311 - jitter, not crypto

    async def _with_infrastructure_retry(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Waits out an unreachable database, doubling the wait from 0.2 s up to 5 s; gives up
        (InfrastructureUnavailable) rather than sleep past the retry window. Any other error is
        the caller's at once."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_infrastructure_error),
            wait=wait_exponential(multiplier=0.2, max=5.0),
            stop=stop_before_delay(self.settings.infrastructure_retry_seconds),
            before_sleep=_log_database_unavailable,
        )
        # Attempts in a loop rather than `await retrying(operation)`: tenacity calls a function
        # that is not itself a coroutine function (our lambdas) without awaiting what it returns.
        try:
            async for attempt in retrying:
                with attempt:
                    result = await operation()
        except RetryError as exhausted:
            error = exhausted.last_attempt.exception()
            raise InfrastructureUnavailable(repr(error)) from error
        return result


def _log_database_unavailable(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("database unavailable; waiting", error=repr(error), retry_in=state.upcoming_sleep)
