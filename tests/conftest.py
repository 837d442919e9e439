"""Fixtures shared by every layer of tests.

The broker and database come from, in this order:
1. the environment (INSATS_TEST_KAFKA_BOOTSTRAP_SERVERS and INSATS_TEST_MONGODB_URL), e.g. a
   real Kafka cluster and MongoDB replica set;
2. testcontainers with the official apache/kafka and mongo images, where a Docker engine answers;
3. the project's local stack (scripts/stack), started here if it is not running and stopped
   again afterwards if this session started it.
Each test gets its own namespace (topic, consumer-group and database prefixes) on that stack.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from scripts.harness import Namespace, reset_namespace, settings_for
from shared.settings import Settings

if TYPE_CHECKING:
    from scripts.stack.identity import IdentityProvider

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The folder a test lives in is its layer: tests/unit -> @unit, and so on."""
    for item in items:
        layer = Path(str(item.fspath)).relative_to(ROOT / "tests").parts[0]
        if layer in {"unit", "integration", "e2e", "faults"}:
            item.add_marker(getattr(pytest.mark, layer))


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _from_testcontainers() -> Iterator[dict[str, str]]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer

    kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    mongo = (
        DockerContainer("mongo:8.0")
        .with_command("--replSet rs0 --bind_ip_all")
        .with_exposed_ports(27017)
    )
    with kafka, mongo:
        wait_for_logs(mongo, "Waiting for connections")
        mongo.exec(["mongosh", "--quiet", "--eval", "rs.initiate()"])
        host, port = mongo.get_container_host_ip(), mongo.get_exposed_port(27017)
        yield {
            "INSATS_KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
            "INSATS_MONGODB_URL": f"mongodb://{host}:{port}/?directConnection=true",
        }


_LOCAL_STACK: list[object] = []


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    given_kafka = os.environ.get("INSATS_TEST_KAFKA_BOOTSTRAP_SERVERS")
    given_mongo = os.environ.get("INSATS_TEST_MONGODB_URL")
    if given_kafka and given_mongo:
        yield {"INSATS_KAFKA_BOOTSTRAP_SERVERS": given_kafka, "INSATS_MONGODB_URL": given_mongo}
        return
    if os.environ.get("INSATS_TEST_NO_DOCKER") != "1" and _docker_answers():
        yield from _from_testcontainers()
        return
    from scripts.stack import Stack

    stack = Stack()
    # Only what this session started is stopped after it: a broker someone else started keeps
    # running when, say, only Keycloak was missing.
    not_running = [item.name for item in stack.status() if not item.answers]
    stack.up()
    _LOCAL_STACK.append(stack)
    try:
        yield stack.environment()
    finally:
        stack.down(only=not_running)


@pytest.fixture(scope="session")
def identity_provider() -> Iterator[IdentityProvider]:
    """The local stack's Keycloak and its admin API, started for this session if it does not
    answer (and then stopped after it), without the broker and database."""
    from scripts.stack import Stack
    from scripts.stack.identity import IdentityProvider

    stack = Stack()
    if not stack.settings.identity_provider:
        pytest.skip("the identity provider is turned off (INSATS_STACK_IDENTITY_PROVIDER)")
    answered = asyncio.run(stack.keycloak.answers())
    stack.up(only=["keycloak"])
    try:
        yield IdentityProvider(stack.keycloak)
    finally:
        if not answered:
            stack.down(only=["keycloak"])


@pytest.fixture
def local_stack(stack_env: dict[str, str]) -> object:
    """The local stack's processes, for tests that stop and restart the broker or database."""
    if not _LOCAL_STACK:
        pytest.skip("the broker and database are not the local stack's processes")
    return _LOCAL_STACK[0]


@pytest.fixture
def namespace() -> Namespace:
    return Namespace(f"t{uuid.uuid4().hex[:10]}")


@pytest.fixture
def env(stack_env: dict[str, str], namespace: Namespace) -> dict[str, str]:
    """The environment a service process of this test runs with."""
    return {
        **stack_env,
        **namespace.environment(),
        "INSATS_PSEUDONYM_KEY": "test-key-" + namespace.name,
        "INSATS_AUDIENCE_KEY": "audience-key-" + namespace.name,
        "INSATS_IDENTITY_MASTER_KEY": hashlib.sha256(namespace.name.encode()).hexdigest(),
        "INSATS_IDENTITY_READ_SECRET": hashlib.sha256(f"r/{namespace.name}".encode()).hexdigest(),
        "INSATS_LOG_FORMAT": "json",
        # Short group timeouts and fast retries keep the tests quick; the logic is the same.
        "INSATS_SESSION_TIMEOUT_MS": "6000",
        "INSATS_HEARTBEAT_INTERVAL_MS": "1000",
        "INSATS_RETRY_BACKOFF_MS": "20",
        "INSATS_RETRY_BACKOFF_MAX_MS": "100",
        "INSATS_RELAY_POLL_MS": "100",
        "INSATS_TOPIC_PARTITIONS": "3",
        # Tenants' topics are created as a test first publishes on them: found within a second.
        "INSATS_KAFKA_METADATA_MAX_AGE_MS": "1000",
        # The tests replay histories with fixed dates; the bound is tested on its own.
        "INSATS_REFERRAL_MAX_AGE_DAYS": "3650",
    }


@pytest.fixture
async def settings(env: dict[str, str]) -> AsyncIterator[Settings]:
    settings = settings_for(env)
    yield settings
    await reset_namespace(settings)
