"""Credentials and ACLs for outside systems on the local broker: what `insats partner onboard`,
`insats municipality onboard` and `insats owner onboard` do here, and what Strimzi's KafkaUser
resources do in deploy/k8s.

Every ACL is on a literal topic name, never a prefix or a wildcard: a tenant writes its own
inbound topics (shared/contracts/tenants.py) and reads its own stream, and nothing else, so the
topic a record arrived on says who sent it. Consumer groups are the one prefixed ACL: a tenant
names its groups `<user>.<anything>`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from scripts.stack.kafka import LocalKafka
from shared.contracts.tenants import CHANNELS, SHARED_TOPICS, Tenant

SCRAM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    bootstrap_servers: str
    topics_read: tuple[str, ...]
    topics_written: tuple[str, ...]
    group_prefix: str

    def environment(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": SCRAM,
            "KAFKA_USERNAME": self.username,
            "KAFKA_PASSWORD": self.password,
        }


def onboard(
    kafka: LocalKafka, tenant: Tenant, topic_prefix: str = "", *, shared_topics: bool = False
) -> Credentials:
    """A SCRAM user for the tenant, allowed to write its own inbound topics and read its own
    stream. With `shared_topics` (a deployment migrating from earlier versions) it may also
    write the shared topics of its channels, where the payload, not the topic, names it."""
    written = [topic_prefix + topic for topic in tenant.writes()]
    if shared_topics:
        written += [topic_prefix + SHARED_TOPICS[c] for c in sorted(CHANNELS[tenant.kind])]
    return _grant(
        kafka,
        username=tenant.username,
        read=(topic_prefix + tenant.answers_topic(),),
        write=tuple(written),
        group_prefix=f"{tenant.username}.",
    )


def onboard_partner(kafka: LocalKafka, partner_id: str, topic_prefix: str = "") -> Credentials:
    return onboard(kafka, Tenant.partner(partner_id), topic_prefix)


def onboard_municipality(kafka: LocalKafka, kommunkod: str, topic_prefix: str = "") -> Credentials:
    return onboard(kafka, Tenant.municipality(kommunkod), topic_prefix)


def _grant(
    kafka: LocalKafka,
    *,
    username: str,
    read: tuple[str, ...],
    write: tuple[str, ...],
    group_prefix: str,
) -> Credentials:
    """The user and its ACLs, through the broker's Admin API (KIP-554 for SCRAM credentials):
    what Kafka's own tools do, in a fraction of a second instead of a JVM start per call."""
    # URL-safe base64 (A-Z, a-z, 0-9, '-', '_'): nothing that kcat's -X or -F, or a shell's
    # `export`, reads specially. Checked with kcat and aiokafka: the password is not why Debian
    # 12's kcat fails to log in (tests/e2e/test_kcat_scram.py says why).
    password = secrets.token_urlsafe(24)
    admin = AdminClient({"bootstrap.servers": kafka.settings.bootstrap_servers})
    credential = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    _wait(
        admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(username, credential, password.encode())]
        )
    )
    principal = f"User:{username}"

    def allowed(
        kind: ResourceType, name: str, pattern: ResourcePatternType, *ops: AclOperation
    ) -> list[AclBinding]:
        return [
            AclBinding(kind, name, pattern, principal, "*", op, AclPermissionType.ALLOW)
            for op in ops
        ]

    bindings = [
        *(
            binding
            for topic in read
            for binding in allowed(
                ResourceType.TOPIC,
                topic,
                ResourcePatternType.LITERAL,
                AclOperation.READ,
                AclOperation.DESCRIBE,
            )
        ),
        *(
            binding
            for topic in write
            for binding in allowed(
                ResourceType.TOPIC,
                topic,
                ResourcePatternType.LITERAL,
                AclOperation.WRITE,
                AclOperation.DESCRIBE,
            )
        ),
        *allowed(ResourceType.GROUP, group_prefix, ResourcePatternType.PREFIXED, AclOperation.READ),
    ]
    _wait(admin.create_acls(bindings))
    _until_it_logs_in(kafka.settings.sasl_bootstrap_servers, username, password)
    return Credentials(
        username=username,
        password=password,
        bootstrap_servers=kafka.settings.sasl_bootstrap_servers,
        topics_read=read,
        topics_written=write,
        group_prefix=group_prefix,
    )


def _until_it_logs_in(
    bootstrap_servers: str, username: str, password: str, timeout: float = 30.0
) -> None:
    """The broker applies a new SCRAM credential a moment after the Admin API answers (it
    arrives with the cluster's metadata): a client logging in at once may be refused. So the
    credentials are handed out only once a login with them succeeds."""
    deadline = time.monotonic() + timeout
    while True:
        probe = AdminClient(
            {
                "bootstrap.servers": bootstrap_servers,
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": SCRAM,
                "sasl.username": username,
                "sasl.password": password,
            }
        )
        try:
            probe.list_topics(timeout=5)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        else:
            return


def _wait(futures: Mapping[Any, Future[Any]]) -> None:
    """Every answer of an Admin API call; the first refusal raises."""
    for future in futures.values():
        future.result(timeout=30)
