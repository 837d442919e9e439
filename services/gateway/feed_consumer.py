"""Reads every tenant's own stream into the feed: persist before committing offsets.

One consumer group for every gateway replica, subscribed by pattern, so the partitions are shared
between replicas and a tenant onboarded later is read within a metadata refresh
(INSATS_KAFKA_METADATA_MAX_AGE_MS), from its stream's first record. A batch's offsets are
committed only once its entries are in the database; a crash in between delivers the batch
again, which the feed recognises by event id. Nothing a record holds can stop the consumer: what
is not an event envelope is logged and skipped, and a database that is away is waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.gateway.feed_records import StreamRecord, read_record
from services.gateway.feed_store import FeedStore
from services.gateway.feed_topics import stream_pattern, tenant_of_stream
from shared.messaging import lenient_records
from shared.messaging.kafka import client_kwargs
from shared.observability import get_logger
from shared.settings import Settings

log = get_logger(__name__)
_BACKOFF_MAX_SECONDS = 5.0


class FeedConsumer:
    def __init__(
        self, settings: Settings, store: FeedStore, on_stored: Callable[[], None] = lambda: None
    ) -> None:
        self.settings = settings
        self.store = store
        self.on_stored = on_stored  # new entries: wake this replica's webhook deliverer
        self.group = settings.consumer_group("gateway", "feed")
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        lenient_records.install()
        self._consumer = AIOKafkaConsumer(
            **client_kwargs(self.settings),
            group_id=self.group,
            enable_auto_commit=False,
            # A stream found later is read from its beginning: its first events were published
            # before the subscription knew the topic.
            auto_offset_reset="earliest",
            metadata_max_age_ms=self.settings.kafka_metadata_max_age_ms,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
        )
        self._consumer.subscribe(pattern=stream_pattern(self.settings.topic_prefix))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="gateway-feed-consumer")

    def alive(self) -> bool:
        """Whether the consumer's task runs: readiness fails once it ended while serving."""
        return self._task is not None and (self._stopping or not self._task.done())

    async def stop(self, grace_seconds: float) -> None:
        """Let the batch in hand be stored and committed, then leave the group."""
        self._stopping = True
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=grace_seconds)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        backoff = 0.1
        while not self._stopping:
            try:
                fetched = await self._consumer.getmany(
                    timeout_ms=500, max_records=self.settings.batch_max_records
                )
                if fetched and await self._persist(fetched):
                    await self._commit(fetched)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                # The broker or the database away, or anything unforeseen: nothing was committed,
                # so the same records come again once it passes.
                log.exception("feed batch not stored; trying again", backoff=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_SECONDS)
                # The consumer's position has moved past what was fetched: back to the last
                # commit, or those records would be read again only after a rebalance.
                with contextlib.suppress(Exception):
                    await self._rewind()

    async def _rewind(self) -> None:
        assert self._consumer is not None
        for tp in self._consumer.assignment():
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)

    async def _persist(self, fetched: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> bool:
        """Store the batch, waiting for the database as long as the gateway runs. False if it
        stopped first: then nothing may be committed."""
        records = self._entries(fetched)
        backoff = 0.1
        while True:
            try:
                stored = await self.store.append(records) if records else 0
            except Exception:
                if self._stopping:
                    return False
                log.exception("feed entries not stored; trying again", backoff=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_SECONDS)
                continue
            if stored:
                self.on_stored()
            return True

    def _entries(
        self, fetched: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> list[StreamRecord]:
        found: list[StreamRecord] = []
        for tp, batch in fetched.items():
            tenant = tenant_of_stream(tp.topic, self.settings.topic_prefix)
            for record in batch:
                if tenant is None:
                    log.warning("feed skips a topic that is no tenant's stream", topic=tp.topic)
                    continue
                read = read_record(tenant, tp.topic, tp.partition, record.offset, record.value)
                if isinstance(read, str):
                    log.warning(
                        "feed skips a record",
                        reason=read,
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=record.offset,
                    )
                    continue
                found.append(read)
        return found

    async def _commit(self, fetched: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        assert self._consumer is not None
        offsets = {tp: batch[-1].offset + 1 for tp, batch in fetched.items() if batch}
        try:
            await self._consumer.commit(offsets)
        except KafkaError as error:
            # Partitions moved to another replica meanwhile: it reads them from the last commit,
            # and the entries stored here are recognised there.
            log.warning("feed offsets not committed", error=repr(error))
