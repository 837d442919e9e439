"""Rebuilding outcomes' read models from the event history.

The read models are a fold of outcomes' input topics, so they can be thrown away and rebuilt:
every input topic is replayed from its beginning, through the very handlers and batch consumer
the service runs (inbox, transactions and all), into a separate database. Nothing is published:
the rebuild's outbox is discarded, since everything in it was published when the events were
first applied (derived event ids make them the same events). Which follow-ups were already
announced is read back from outcomes' own topic.

By default the fold runs in memory (shared/memory_database.py) and the read models and inbox are
then bulk-inserted: the database server's per-document upserts and per-batch commits, which
bound the rebuild's rate when it folds in the database, are not paid per event. Memory grows with
the read models (measured in README "Performance"); `in_memory=False` folds in the database
instead, for histories whose read models do not fit.

The rebuilt database can then be compared with the live one and, with the service stopped,
swapped in. Indicators are computed from the read models when asked for, so a corrected
definition (a new `key@version`) applies to past data at once, rebuilt or not.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pymongo import UpdateOne

from services.outcomes.app import NAME, subscriptions
from services.outcomes.domain import follow_up_id
from services.outcomes.handlers import OutcomesHandlers
from services.outcomes.indicators import Indicator
from services.outcomes.overview import ProgrammeOverview
from services.outcomes.reports import programme_overviews
from services.outcomes.store import READ_MODELS, OutcomesStore
from shared.contracts import topics
from shared.contracts.outcomes import FollowUpDue
from shared.memory_database import MemoryDatabase
from shared.messaging.consumer import BatchConsumer, Subscription
from shared.messaging.dead_letters import H_CODE
from shared.messaging.kafka import LogSpan, channel_topics, replay_topic
from shared.observability import Metrics, get_logger
from shared.persistence import ServiceDatabase, StateDatabase, mongo_client
from shared.settings import Settings

REBUILD = f"{NAME}_rebuild"
log = get_logger(__name__)
Progress = Callable[[str, int], None]


class ServiceStillRunning(RuntimeError):
    """The live service holds its relay lease: swapping under it would lose what it applies."""


@dataclass
class RebuildResult:
    database: str
    replayed: dict[str, int] = field(default_factory=dict)
    announced: int = 0
    # Records the replay could not apply, by dead-letter code: bad input dead-lettered when it
    # was first consumed is again, and a HANDLER_ERROR means the rebuild is missing something.
    dead_lettered: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    # Where the time went: "replay" (reading and folding), "write" and "indexes" (in memory).
    phases: dict[str, float] = field(default_factory=dict)
    # What was read of the event log, partition by partition.
    spans: list[LogSpan] = field(default_factory=list)


@dataclass(frozen=True)
class LogBounds:
    """Which part of the event log a replay reads: everything up to now (the default), up to a
    time (`before`: what was known then), or exactly the spans an earlier replay read (`spans`,
    by full topic name and partition: (start, end))."""

    before: datetime | None = None
    spans: Mapping[str, Mapping[int, tuple[int, int]]] | None = None


async def _replay_full_topic(
    settings: Settings,
    name: str,
    on_records: Callable[[list[Any]], Awaitable[None]],
    bounds: LogBounds,
    read: list[LogSpan],
) -> int:
    return await replay_topic(
        settings,
        name,
        on_records,
        max_records=settings.batch_max_records,
        until=None if bounds.spans is None else bounds.spans.get(name, {}),
        before=bounds.before,
        spans=read,
    )


async def _replay_topic(
    settings: Settings,
    topic: str,
    on_records: Callable[[list[Any]], Awaitable[None]],
    bounds: LogBounds = LogBounds(),
    read: list[LogSpan] | None = None,
) -> int:
    """Every record of `topic` within the bounds, partition by partition, in order."""
    return await _replay_full_topic(
        settings, settings.topic(topic), on_records, bounds, [] if read is None else read
    )


async def _replay_subscription(
    settings: Settings,
    subscription: Subscription,
    on_records: Callable[[list[Any]], Awaitable[None]],
    bounds: LogBounds,
    read: list[LogSpan],
) -> tuple[str, int]:
    """What the subscription reads, replayed: its topic, or each tenant's topic of its channel
    in turn. Returns what it read (for the report) and how many records."""
    if subscription.channel is None:
        assert subscription.topic is not None
        replayed = await _replay_topic(settings, subscription.topic, on_records, bounds, read)
        return subscription.topic, replayed
    replayed = 0
    for topic in await channel_topics(settings, subscription.channel):
        replayed += await _replay_full_topic(settings, topic, on_records, bounds, read)
    return f"channel {subscription.channel.value}", replayed


async def rebuild(
    settings: Settings,
    *,
    database: str = REBUILD,
    progress: Progress | None = None,
    in_memory: bool = True,
    bounds: LogBounds = LogBounds(),
) -> RebuildResult:
    """Replay outcomes' input topics (within `bounds`) into a fresh database
    `<prefix>_<database>`."""
    started = time.perf_counter()
    client = mongo_client(settings)
    result = RebuildResult(settings.database_name(database))
    try:
        await client.drop_database(result.database)
        target = ServiceDatabase(client, settings, database)
        await target.ensure_indexes()
        dead_letters = settings.topic(topics.dead_letter_topic(NAME))
        folded: StateDatabase = (
            MemoryDatabase(settings, NAME, keep=lambda record: record.topic == dead_letters)
            if in_memory
            else target
        )
        store = OutcomesStore(folded)
        await store.ensure_indexes()
        metrics = Metrics()
        phase = time.perf_counter()
        for subscription in subscriptions(OutcomesHandlers(store)):
            consumer = BatchConsumer(folded, settings, metrics, NAME, subscription)
            source, replayed = await _replay_subscription(
                settings, subscription, consumer.process, bounds, result.spans
            )
            result.replayed[source] = replayed
            if progress:
                progress(source, replayed)
        announced: list[FollowUpDue] = []

        async def collect(records: list[Any]) -> None:
            for record in records:
                document = json.loads(record.value or b"{}")
                if document.get("type") == FollowUpDue.TYPE:
                    announced.append(FollowUpDue.model_validate(document["data"]))

        await _replay_topic(settings, topics.OUTCOMES_EVENTS, collect, bounds, result.spans)
        # A follow-up announced under a participant merged since is the remaining one's.
        into = await store.merged_into((due.participant_id for due in announced), None)
        await store.mark_emitted_from_history(
            follow_up_id(
                due.programme_id,
                into.get(due.participant_id, due.participant_id),
                due.follow_up,
                due.participation,
            )
            for due in announced
        )
        result.announced = len({due.follow_up_id for due in announced})
        result.dead_lettered = await _dead_letter_codes(folded, dead_letters)
        result.phases["replay"] = time.perf_counter() - phase
        if isinstance(folded, MemoryDatabase):
            # Not the outbox: everything the replay staged was published when the events were
            # first applied. The indexes are built after the inserts, not paid per insert.
            phase = time.perf_counter()
            await folded.write_to(target, (*READ_MODELS, "inbox"))
            result.phases["write"] = time.perf_counter() - phase
            phase = time.perf_counter()
            await OutcomesStore(target).ensure_indexes()
            result.phases["indexes"] = time.perf_counter() - phase
        else:
            await target.outbox.delete_many({})
    finally:
        await client.close()
    result.seconds = time.perf_counter() - started
    log.info(
        "outcomes read models rebuilt",
        seconds=round(result.seconds, 3),
        phases={name: round(seconds, 3) for name, seconds in result.phases.items()},
        **result.replayed,
        database=result.database,
        in_memory=in_memory,
        dead_lettered=dict(result.dead_lettered),
    )
    return result


async def _dead_letter_codes(folded: StateDatabase, topic: str) -> Counter[str]:
    staged = await folded.collection("outbox").find({"topic": topic}).to_list()
    return Counter(
        dict(tuple(header) for header in doc["headers"]).get(H_CODE, b"?").decode()
        for doc in staged
    )


Figures = tuple[float | None, float | None, float | None]


@dataclass(frozen=True)
class Difference:
    programme_id: str
    indicator: str
    live: Figures
    rebuilt: Figures


async def compare(
    settings: Settings,
    as_of: date,
    *,
    database: str = REBUILD,
    definitions: Sequence[Indicator] | None = None,
) -> list[Difference]:
    """Indicators of the live read models against the rebuilt ones: the differences."""
    client = mongo_client(settings)
    try:
        live = await programme_overviews(
            OutcomesStore(ServiceDatabase(client, settings, NAME)), as_of, definitions=definitions
        )
        rebuilt = await programme_overviews(
            OutcomesStore(ServiceDatabase(client, settings, database)),
            as_of,
            definitions=definitions,
        )
    finally:
        await client.close()

    before, after = figures(live), figures(rebuilt)
    nothing: Figures = (None, None, None)
    return [
        Difference(key[0], key[1], before.get(key, nothing), after.get(key, nothing))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def figures(overviews: Sequence[ProgrammeOverview]) -> dict[tuple[str, str], Figures]:
    """(numerator, denominator, value) of every indicator, by programme and `key@version`."""
    found: dict[tuple[str, str], Figures] = {}
    for view in overviews:
        for res in view.indicators:
            value = res.total.value
            found[(view.programme.programme_id, res.indicator.name)] = (
                value.numerator,
                value.denominator,
                value.value,
            )
    return found


async def swap(settings: Settings, *, database: str = REBUILD, force: bool = False) -> list[str]:
    """Move the rebuilt read models in place of the live ones. The service must be stopped: its
    inbox is kept and gains the rebuild's ids, so nothing replayed is applied again on start."""
    client = mongo_client(settings)
    live = ServiceDatabase(client, settings, NAME)
    rebuilt = ServiceDatabase(client, settings, database)
    try:
        lease = await live.leases.find_one({"_id": "outbox-relay"})
        expires = lease.get("expires_at") if lease else None
        if not force and isinstance(expires, datetime) and expires > datetime.now(UTC):
            raise ServiceStillRunning(
                "the outcomes service is running (it holds the outbox lease); stop it first"
            )
        ids = [doc["_id"] async for doc in rebuilt.inbox.find({}, {"_id": 1})]
        for start in range(0, len(ids), 1_000):
            await live.inbox.bulk_write(
                [
                    UpdateOne({"_id": i}, {"$setOnInsert": {"at": datetime.now(UTC)}}, upsert=True)
                    for i in ids[start : start + 1_000]
                ],
                ordered=False,
            )
        moved = []
        existing = set(await rebuilt.db.list_collection_names())
        for name in READ_MODELS:
            if name not in existing:
                await live.db.drop_collection(name)
                continue
            await client.admin.command(
                {
                    "renameCollection": f"{rebuilt.db.name}.{name}",
                    "to": f"{live.db.name}.{name}",
                    "dropTarget": True,
                }
            )
            moved.append(name)
        await client.drop_database(rebuilt.db.name)
        await OutcomesStore(live).ensure_indexes()
    finally:
        await client.close()
    return moved
