"""Running the three services as real processes on a stack, and knowing when the flow has settled.

Used by the demo, the end-to-end and fault tests and the benchmark. A namespace (topic prefix,
database prefix, consumer-group prefix) keeps each run apart from every other on the same stack.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DeleteGroupsRequest
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_fixed

from shared.contracts.envelope import Envelope
from shared.contracts.registry import encode_event
from shared.contracts.tenants import (
    Channel,
    Tenant,
    channel_pattern,
    inbound_topic,
    tenant_of_source,
    tenant_of_topic,
)
from shared.messaging.kafka import (
    client_kwargs,
    ensure_topics,
    inbound_topic_config,
    read_records,
    topic_partitions,
)
from shared.persistence import mongo_client
from shared.services import SERVICES, service_app
from shared.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Namespace:
    """One isolated run on a shared broker and database."""

    name: str

    def environment(self) -> dict[str, str]:
        return {
            "INSATS_TOPIC_PREFIX": f"{self.name}.",
            "INSATS_DATABASE_PREFIX": f"{self.name}_insats",
            "INSATS_CONSUMER_GROUP_PREFIX": f"{self.name}.insats",
        }


def settings_for(env: Mapping[str, str]) -> Settings:
    """Settings as a service process with this environment would read them."""
    keys = {k[len("INSATS_") :].lower(): v for k, v in env.items() if k.startswith("INSATS_")}
    return Settings(**keys)  # type: ignore[arg-type]


@dataclass
class ServiceProcess:
    service: str
    env: dict[str, str]
    log_path: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    # The CLI's arguments that run it: `run <service>` for the services.
    command: tuple[str, ...] = ()

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "scripts", *(self.command or ("run", self.service))],
            env={**os.environ, **self.env, "INSATS_HTTP_PORT": str(self.port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self, path: str = "/health/ready") -> tuple[int, str]:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}{path}", timeout=3
            ) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except (urllib.error.URLError, OSError) as error:
            return 0, str(error)

    def terminate(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, as Kubernetes does; returns the exit code (None if it had to be killed)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    def kill(self) -> None:
        """kill -9: a crash, with no chance to commit or flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Platform:
    """The three services as processes, sharing one environment."""

    env: dict[str, str]
    log_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            self.services[name] = ServiceProcess(
                name, self.env, self.log_dir / f"{name}.log", free_port()
            )

    @property
    def settings(self) -> Settings:
        return settings_for(self.env)

    def start(self, *names: str) -> None:
        for name in names or SERVICES:
            self.services[name].start()

    async def wait_ready(self, *names: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        for name in names or SERVICES:
            service = self.services[name]
            while True:
                status, body = await asyncio.to_thread(service.health)
                if status == 200:
                    break
                if not service.alive():
                    raise RuntimeError(f"{name} exited; see {service.log_path}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready: {status} {body}; see {service.log_path}")
                await asyncio.sleep(0.25)

    def stop(self, *names: str) -> dict[str, int | None]:
        return {name: self.services[name].terminate() for name in names or SERVICES}


@dataclass(frozen=True)
class Reads:
    """What one consumer group reads: a topic, or every topic of an inbound channel."""

    topic: str | None = None
    channel: Channel | None = None

    def matches(self, settings: Settings, topic: str) -> bool:
        if self.channel is None:
            return topic == settings.topic(self.topic or "")
        pattern = channel_pattern(
            self.channel, settings.topic_prefix, shared=settings.shared_inbound_topics
        )
        return re.match(pattern, topic) is not None


def consumer_topics(settings: Settings, services: Sequence[str] = SERVICES) -> dict[str, Reads]:
    """Every consumer group of the services and what it reads."""
    groups: dict[str, Reads] = {}
    for name in services:
        for subscriber, topic, channel in _subscriptions(name):
            groups[settings.consumer_group(name, subscriber)] = Reads(topic, channel)
    return groups


@functools.cache
def _subscriptions(service: str) -> tuple[tuple[str, str | None, Channel | None], ...]:
    """(subscriber, topic, channel) triples, read off the service as it would be built."""
    module = service_app(service)
    unused = Settings(
        pseudonym_key="unused", identity_master_key="00" * 32, audience_key="unused-audience-key"
    )
    runtime = module.create(unused, configure_logs=False)
    return tuple(
        (c.subscription.name, c.subscription.topic, c.subscription.channel)
        for c in runtime.consumers
    )


async def pending_work(settings: Settings, services: Sequence[str] = SERVICES) -> int:
    """Records not yet consumed by some group, plus outbox records not yet published."""
    groups = consumer_topics(settings, services)
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    consumer = AIOKafkaConsumer(**client_kwargs(settings), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    behind = 0
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        read = {
            group: [t for t in names if reads.matches(settings, t)]
            for group, reads in groups.items()
        }
        layout = await topic_partitions(settings, sorted({t for ts in read.values() for t in ts}))
        every = [TopicPartition(topic, p) for topic, ps in layout.items() for p in ps]
        # Metadata for every topic at once first: left to end_offsets, it is fetched topic by
        # topic with a backoff between, which took seconds (aiokafka 0.14).
        await consumer._client.set_topics(sorted(layout))
        ends = await consumer.end_offsets(every) if every else {}
        for group, group_topics in read.items():
            partitions = [
                TopicPartition(topic, p)
                for topic in group_topics
                if topic in layout
                for p in layout[topic]
            ]
            if not partitions:
                continue
            committed = await admin.list_consumer_group_offsets(group)
            for tp in partitions:
                done = committed[tp].offset if tp in committed else 0
                behind += max(0, ends[tp] - max(done, 0))
    finally:
        await consumer.stop()
        await admin.close()
    client = mongo_client(settings)
    try:
        for name in services:
            outbox = client[settings.database_name(name)]["outbox"]
            behind += await outbox.count_documents({})
    finally:
        await client.close()
    return behind


async def wait_settled(
    settings: Settings,
    timeout: float = 120.0,
    quiet_for: float = 1.0,
    poll: float = 0.3,
    services: Sequence[str] = SERVICES,
) -> None:
    """Until nothing is pending for `quiet_for` seconds: every record consumed and committed by
    every group, every outbox published."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while True:
        left = await pending_work(settings, services)
        now = time.monotonic()
        if left == 0:
            quiet_since = quiet_since or now
            if now - quiet_since >= quiet_for:
                return
        else:
            quiet_since = None
        if now > deadline:
            raise TimeoutError(f"flow not settled after {timeout:.0f} s: {left} pending")
        await asyncio.sleep(poll)


async def consumer_groups(admin: Any, timeout: float = 60.0) -> list[str]:
    """The broker's consumer groups. A broker just started answers GroupLoadInProgress (or
    CoordinatorNotAvailable) while it loads its offsets topic: retriable, so waited out."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(lambda error: isinstance(error, KafkaError) and error.retriable),
        wait=wait_fixed(0.5),
        stop=stop_after_delay(timeout),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            listed: list[Any] = await admin.list_consumer_groups()
    return [g[0] if isinstance(g, tuple) else g.group_id for g in listed]


async def delete_consumer_groups(admin: Any, groups: list[str], timeout: float = 10.0) -> set[str]:
    """Delete consumer groups, so that a namespace used again (the demo's) starts from the first
    offset: a group left behind keeps its committed offsets, and its consumers would skip that
    many records of the recreated topics. aiokafka's admin client has no call for this, so
    Kafka's DeleteGroups request goes to every broker (each deletes the groups it coordinates).
    A group whose last member has just gone may still count it until its session times out
    (NON_EMPTY_GROUP): asked again for `timeout` seconds. Returns the groups that still have
    members then (their services still run: a test module's shared service), left as they are."""
    pending = list(groups)
    deadline = time.monotonic() + timeout
    while pending:
        busy: set[str] = set()
        for broker in admin._client.cluster.brokers():  # the client's own cluster metadata
            request = DeleteGroupsRequest(pending)
            response = await admin._send_request_to_node(broker.nodeId, request)
            for group, code in response.results:
                # 16 NOT_COORDINATOR, 69 GROUP_ID_NOT_FOUND: another broker's, or already gone.
                if code == 68:  # NON_EMPTY_GROUP
                    busy.add(group)
                elif code not in (0, 16, 69):
                    raise RuntimeError(
                        f"consumer group {group} was not deleted (Kafka error {code})"
                    )
        pending = sorted(busy)
        if pending and time.monotonic() > deadline:
            break
        if pending:
            await asyncio.sleep(0.5)
    left = set(groups) & set(await consumer_groups(admin)) - set(pending)
    if left:
        raise RuntimeError(f"consumer groups left after deletion: {sorted(left)}")
    return set(pending)


async def reset_namespace(settings: Settings) -> None:
    """Delete this namespace's topics, consumer groups and databases: a run starts from nothing."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        prefix = settings.topic_prefix
        if prefix:
            ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if ours:
                await admin.delete_topics(ours)
            # Deletion completes in the background; recreating a topic before it is gone fails.
            deadline = time.monotonic() + 60
            while any(t.startswith(prefix) for t in await admin.list_topics()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topics with prefix {prefix} were not deleted")
                await asyncio.sleep(0.2)
            groups = await consumer_groups(admin)
            mine = [g for g in groups if g.startswith(settings.consumer_group_prefix + "-")]
            if mine:
                # Those still in use (a test module's shared service runs on) stay.
                await delete_consumer_groups(admin, mine, timeout=0)
    finally:
        await admin.close()
    client = mongo_client(settings)
    try:
        for name in await client.list_database_names():
            if name.startswith(settings.database_prefix + "_"):
                await client.drop_database(name)
    finally:
        await client.close()


def sender_of(envelope: Envelope[Any]) -> Tenant:
    """The tenant an envelope is published as by default: the one its source names, else the
    municipality it concerns."""
    claimed = tenant_of_source(envelope.source)
    if claimed is not None:
        return claimed
    if envelope.municipality is None:
        raise ValueError(f"say which tenant publishes {envelope.type}")
    return Tenant.municipality(envelope.municipality)


def home_topic(envelope: Envelope[Any], tenant: Tenant | None = None) -> str:
    """The topic (unprefixed) an event is published on: its sender's own topic of its channel
    for what outside systems publish, its type's topic for the services' own events."""
    model = type(envelope.data)
    if model.CHANNEL is None:
        return str(model.TOPIC)
    return inbound_topic(tenant or sender_of(envelope), Channel(model.CHANNEL))


async def ensure_home_topics(settings: Settings, names: Sequence[str]) -> None:
    """Create these topics (unprefixed) as onboarding and the services would: a tenant's own
    inbound topic with the inbound configuration, any other plainly."""
    configs: dict[str, dict[str, str]] = {}
    for name in names:
        found = tenant_of_topic(name)
        configs[settings.topic(name)] = (
            inbound_topic_config(settings, found[1]) if found is not None else {}
        )
    await ensure_topics(settings, configs)


class Publisher:
    """Publishes as an outside system does: JSON envelopes with the subject as the key, on the
    sending tenant's own topic, which it creates (as onboarding would) if it does not exist."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(
            **client_kwargs(settings), enable_idempotence=True, acks="all", linger_ms=5
        )
        self._created: set[str] = set()

    async def __aenter__(self) -> Publisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.producer.stop()

    async def send(self, envelope: Envelope[Any], tenant: Tenant | None = None) -> None:
        model = type(envelope.data)
        if model.CHANNEL is None:
            topic = self.settings.topic(model.TOPIC)
        else:
            topic = await self.tenant_topic(tenant or sender_of(envelope), Channel(model.CHANNEL))
        await self.producer.send(topic, encode_event(envelope), key=envelope.subject.encode())

    async def tenant_topic(self, tenant: Tenant, channel: Channel) -> str:
        """The tenant's own topic of the channel (full name), created if it does not exist."""
        topic = self.settings.topic(inbound_topic(tenant, channel))
        if topic not in self._created:
            await ensure_topics(
                self.settings, {topic: inbound_topic_config(self.settings, channel)}
            )
            self._created.add(topic)
        return topic

    async def send_raw(self, topic: str, value: bytes, key: bytes | None) -> None:
        """Raw bytes on a topic (unprefixed name), as a broken or hostile sender would. A
        tenant's own topic is created first if it does not exist."""
        if (found := tenant_of_topic(topic)) is not None:
            await self.tenant_topic(*found)
        await self.producer.send(self.settings.topic(topic), value, key=key)

    async def send_as(
        self, tenant: Tenant, channel: Channel, value: bytes, key: bytes | None
    ) -> Any:
        """Raw bytes on a tenant's own topic of a channel; returns the broker's metadata."""
        topic = await self.tenant_topic(tenant, channel)
        return await (await self.producer.send(topic, value, key=key))

    async def flush(self) -> None:
        await self.producer.flush()


async def read_topic(
    settings: Settings, topic: str
) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Every record on a topic, from the beginning, without joining a group."""
    return [
        (record.key, record.value or b"", dict(record.headers or ()))
        for record in await read_records(settings, settings.topic(topic))
    ]
