"""The frame every service runs in: a FastStream app on Kafka, its MongoDB database, the outbox
relay, health and metrics over HTTP, and a shutdown that loses nothing.

A service describes itself (subscriptions, the events it publishes, its indexes) and this module
does the rest the same way for all three, so the guarantees cannot drift apart between services.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Union

import uvicorn
from faststream import AckPolicy
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp, Scope
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from shared.audience import pseudonyms_of
from shared.contracts import topics
from shared.contracts.envelope import Envelope, EventData
from shared.contracts.registry import EVENT_TYPES
from shared.contracts.tenants import SHARED_TOPICS, channel_pattern
from shared.http_server import GracefulServer
from shared.messaging import lenient_records
from shared.messaging.consumer import BatchConsumer, InfrastructureUnavailable, Subscription
from shared.messaging.kafka import (
    ensure_topics,
    faststream_security,
    inbound_topic_config,
)
from shared.messaging.relay import OutboxRelay
from shared.observability import CommandCounter, Metrics, configure_logging, get_logger
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings
from shared.tracing import tracer_provider

log = get_logger(__name__)
_DAY_MS = 24 * 3600 * 1000


async def _raw_records(message: Any, _original: Any = None) -> Any:
    # Hand the handler the records exactly as fetched: parsing is ours, so a malformed message
    # becomes a dead letter with its reason instead of a decoding error inside the framework.
    return message.raw_message


class ServiceRuntime:
    def __init__(self, name: str, settings: Settings, *, configure_logs: bool = True) -> None:
        self.name = name
        self.settings = settings
        # Every service's relay derives municipalities' views: refuse to start without the key.
        pseudonyms_of(settings)
        if configure_logs:
            configure_logging(name, settings.log_format, settings.log_level)
        # A header key that is not UTF-8 would otherwise stop a partition for good.
        lenient_records.install()
        self.metrics = Metrics()
        self.client = mongo_client(settings, [CommandCounter(self.metrics, name)])
        self.db = ServiceDatabase(self.client, settings, name)
        security = faststream_security(settings)
        middlewares: list[Any] = [
            KafkaPrometheusMiddleware(registry=self.metrics.registry, app_name=name)
        ]
        self.tracer_provider = tracer_provider(name, settings.otel_exporter_otlp_endpoint)
        if self.tracer_provider is not None:
            middlewares.append(KafkaTelemetryMiddleware(tracer_provider=self.tracer_provider))
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            security=security,
            apply_types=False,
            middlewares=middlewares,
            client_id=f"insats-{name}",
            # A consumer that joined before its topic existed learns of it at the next refresh,
            # and a pattern subscription of a tenant's topic onboarded later, too.
            metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
        )
        self.relay = OutboxRelay(self.db, settings, self.metrics, name)
        self.consumers: list[BatchConsumer] = []
        self._subscribers: list[Any] = []
        self._start_hooks: list[Callable[[], Awaitable[None]]] = []
        self._topic_configs: dict[str, dict[str, str]] = {
            settings.topic(topics.dead_letter_topic(name)): {"retention.ms": str(30 * _DAY_MS)}
        }
        self._draining = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._routes: list[tuple[str, ASGIApp]] = []
        self._lag_task: asyncio.Task[None] | None = None
        self._periodic: list[tuple[float, Callable[[], Awaitable[object]]]] = []
        self._periodic_tasks: list[asyncio.Task[None]] = []
        self._batch_started: dict[str, float] = {}

    # --- what a service declares -------------------------------------------------------------

    def subscribe(self, subscription: Subscription) -> None:
        consumer = BatchConsumer(
            self.db, self.settings, self.metrics, self.name, subscription, self.relay.wake
        )
        self.consumers.append(consumer)
        where: dict[str, Any] = {}
        if subscription.channel is not None:
            # Every tenant's own topic of the channel, those onboarded later included.
            where["pattern"] = channel_pattern(
                subscription.channel,
                self.settings.topic_prefix,
                shared=self.settings.shared_inbound_topics,
            )
            if self.settings.shared_inbound_topics:
                shared = self.settings.topic(SHARED_TOPICS[subscription.channel])
                self._topic_configs[shared] = inbound_topic_config(
                    self.settings, subscription.channel
                )
            topic_args: tuple[str, ...] = ()
        else:
            assert subscription.topic is not None
            topic = self.settings.topic(subscription.topic)
            self._topic_configs.setdefault(topic, {})
            topic_args = (topic,)
        subscriber = self.broker.subscriber(
            *topic_args,
            **where,
            group_id=self.settings.consumer_group(self.name, subscription.name),
            batch=True,
            max_records=self.settings.batch_max_records,
            batch_timeout_ms=self.settings.batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_records,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            title=f"{self.name}.{subscription.name}",
            description=f"{self.name} applies {', '.join(sorted(subscription.accepts))}.",
        )
        subscriber(self._batch_entrypoint(consumer))
        self._subscribers.append(subscriber)

    def publishes(self, *event_types: type[EventData]) -> None:
        """What this service publishes: the relay sends these types and no others, and the AsyncAPI
        document and the topic ACLs are generated from the same declaration."""
        self.relay.declare({event_type.TYPE for event_type in event_types})
        by_topic: dict[str, list[type[EventData]]] = {}
        for event_type in event_types:
            by_topic.setdefault(event_type.TOPIC, []).append(event_type)
        for topic, types in by_topic.items():
            name = self.settings.topic(topic)
            if "{" not in topic:  # a template (one topic per partner) is created per partner
                self._topic_configs.setdefault(name, {})
            payload = _envelope_schema(types)
            self.broker.publisher(
                name,
                title=f"{name}:publish",
                description=", ".join(t.TYPE for t in types),
                schema=payload,
            )

    def topic_config(self, topic: str, config: dict[str, str]) -> None:
        self._topic_configs[self.settings.topic(topic)] = config

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._start_hooks.append(hook)

    def route(self, path: str, handler: ASGIApp) -> None:
        self._routes.append((path, handler))

    def every(self, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        """Run `work` at start and then every `seconds` until the service stops. A failed round
        is logged and the next one runs as usual, so the work must be safe to repeat."""
        self._periodic.append((seconds, work))

    # --- how it runs ----------------------------------------------------------------------

    def _batch_entrypoint(self, consumer: BatchConsumer) -> Callable[..., Awaitable[None]]:
        broker = self.broker

        async def handle(body: list[Any]) -> None:
            message = broker.context.get_local("message")
            if self._draining:
                return  # not applied, not committed: the next owner of the partition gets it
            self._inflight += 1
            self._idle.clear()
            self._batch_started[consumer.subscription.name] = time.monotonic()
            try:
                await consumer.process(body)
            except InfrastructureUnavailable as error:
                log.error(  # noqa: TRY400 - expected outage: the reason, without a traceback
                    "database unavailable; batch handed back to the broker", error=str(error)
                )
                await message.nack()
                return
            except Exception:
                log.exception("batch could not be applied; it will be fetched again")
                await message.nack()
                return
            finally:
                self._batch_started.pop(consumer.subscription.name, None)
                self._inflight -= 1
                if self._inflight == 0:
                    self._idle.set()
            try:
                await message.ack()
            except Exception as error:
                log.warning("offset commit failed; records may be redelivered", error=repr(error))

        # The annotation is what the AsyncAPI document shows as the channel's payload.
        accepted = [EVENT_TYPES[name] for name in sorted(consumer.subscription.accepts)]
        handle.__annotations__ = {"body": list[_envelope_schema(accepted)], "return": None}  # type: ignore[misc]
        handle.__name__ = consumer.subscription.name.replace("-", "_")
        return handle

    async def start_dependencies(self) -> None:
        await self.db.ensure_indexes()
        for hook in self._start_hooks:
            await hook()
        if self.settings.create_topics:
            created = await ensure_topics(self.settings, self._topic_configs)
            if created:
                log.info("topics created", topics=created)
        await self.relay.start()
        self._lag_task = asyncio.create_task(self._measure_lag())
        self._periodic_tasks = [
            asyncio.create_task(self._repeat(seconds, work)) for seconds, work in self._periodic
        ]

    async def drain(self) -> None:
        """Stop taking batches and wait for the one in flight to commit."""
        self._draining = True
        deadline = self.settings.shutdown_grace_seconds * 0.6
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=deadline)
        except TimeoutError:
            log.warning("in-flight batch did not finish within the grace period")

    async def stop_dependencies(self, started_at: float) -> None:
        if self._lag_task is not None:
            self._lag_task.cancel()
        # Before the relay's last flush, so what a final round staged is still published.
        for task in self._periodic_tasks:
            task.cancel()
        await asyncio.gather(*self._periodic_tasks, return_exceptions=True)
        remaining = self.settings.shutdown_grace_seconds - (time.monotonic() - started_at) - 1
        left = await self.relay.stop(remaining)
        log.info("service stopped", outbox_left=left)
        await self.client.close()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()  # flushes the last spans to the collector

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready only while the service can do its work: not merely while it answers. A dead
        relay or consumer task, a batch stuck in flight or an outbox whose oldest record has
        waited too long all make it unready, so the orchestrator stops sending it traffic and
        an operator is alerted, instead of a green probe over a service that publishes nothing."""
        now = time.monotonic()
        stuck = [
            name
            for name, started in self._batch_started.items()
            if now - started > self.settings.ready_max_batch_seconds
        ]
        oldest = await self.relay.oldest_pending_seconds()
        checks: dict[str, Any] = {
            "database": await self.db.ping(),
            "broker": await self.broker.ping(timeout=2.0),
            "consumers": all(_joined(sub) for sub in self._subscribers),
            "consumer_tasks": all(_tasks_alive(sub) for sub in self._subscribers),
            "relay": self.relay.alive(),
            "outbox_oldest_seconds": None if oldest is None else round(oldest, 1),
            "stuck_batches": ";".join(stuck) or None,
            "draining": self._draining,
        }
        outbox_ok = oldest is None or oldest <= self.settings.ready_max_outbox_age_seconds
        ok = (
            checks["database"]
            and checks["broker"]
            and checks["consumers"]
            and checks["consumer_tasks"]
            and checks["relay"]
            and outbox_ok
            and not stuck
            and not self._draining
        )
        return bool(ok), checks

    def asgi_app(self) -> AsgiFastStream:
        shutdown_started: list[float] = []
        runtime = self

        async def on_startup() -> None:
            await runtime.start_dependencies()

        async def on_shutdown() -> None:
            shutdown_started.append(time.monotonic())
            await runtime.drain()

        async def after_shutdown() -> None:
            await runtime.stop_dependencies(
                shutdown_started[0] if shutdown_started else time.monotonic()
            )

        @get(include_in_schema=False)
        async def live(_: Scope) -> AsgiResponse:
            return AsgiResponse(b"ok", 200)

        @get(include_in_schema=False)
        async def ready(_: Scope) -> AsgiResponse:
            ok, checks = await runtime.ready()
            body = ",".join(f"{key}={value}" for key, value in checks.items()).encode()
            return AsgiResponse(body, 200 if ok else 503)

        @get(include_in_schema=False)
        async def metrics(_: Scope) -> AsgiResponse:
            return AsgiResponse(
                generate_latest(runtime.metrics.registry),
                200,
                {"Content-Type": CONTENT_TYPE_LATEST},
            )

        return AsgiFastStream(
            self.broker,
            asgi_routes=[
                ("/health/live", live),
                ("/health/ready", ready),
                ("/metrics", metrics),
                *self._routes,
            ],
            on_startup=[on_startup],
            on_shutdown=[on_shutdown],
            after_shutdown=[after_shutdown],
        )

    async def serve(self) -> None:
        """Run until SIGTERM or SIGINT; then drain, commit, flush the outbox and exit."""
        config = uvicorn.Config(
            self.asgi_app(),
            host=self.settings.http_host,
            port=self.settings.http_port,
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=max(1, int(self.settings.shutdown_grace_seconds)),
        )
        await GracefulServer(config).serve()

    async def _repeat(self, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await work()
            except Exception:
                log.exception("periodic task failed; it runs again in the next round")
            await asyncio.sleep(seconds)

    async def _measure_lag(self) -> None:
        while True:
            await asyncio.sleep(10)
            for subscriber, consumer in zip(self._subscribers, self.consumers, strict=True):
                kafka = getattr(subscriber, "consumer", None)
                if kafka is None:
                    continue
                with contextlib.suppress(Exception):
                    for tp in kafka.assignment():
                        high = kafka.highwater(tp)
                        if high is None:
                            continue
                        position = await kafka.position(tp)
                        self.metrics.consumer_lag.labels(
                            service=self.name,
                            subscriber=consumer.subscription.name,
                            topic=tp.topic,
                            partition=str(tp.partition),
                        ).set(max(0, high - position))


def _tasks_alive(subscriber: Any) -> bool:
    """FastStream runs each subscriber's consume loop as a task (and restarts it if it fails):
    one that has ended without being restarted consumes nothing."""
    tasks = getattr(subscriber, "tasks", [])
    return bool(tasks) and all(not task.done() for task in tasks)


def _joined(subscriber: Any) -> bool:
    consumer = getattr(subscriber, "consumer", None)
    coordinator = getattr(consumer, "_coordinator", None)
    return coordinator is not None and getattr(coordinator, "generation", -1) > 0


def _envelope_schema(types: Sequence[type[EventData]]) -> Any:
    envelopes = [Envelope[t] for t in types]  # type: ignore[valid-type]
    if len(envelopes) == 1:
        return envelopes[0]
    return Union[tuple(envelopes)]  # noqa: UP007 - a runtime union of generated classes
