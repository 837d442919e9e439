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
from dataclasses import dataclass

from scripts.stack.kafka import LocalKafka
from shared.contracts.tenants import CHANNELS, SHARED_TOPICS, Tenant

SCRAM = "SCRAM-SHA-512"
ACL_TOOL = "org.apache.kafka.tools.AclCommand"
CONFIG_TOOL = "kafka.admin.ConfigCommand"


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
    # URL-safe base64 (A-Z, a-z, 0-9, '-', '_'): nothing that ConfigCommand's [key=value,...]
    # list, kcat's -X or -F, or a shell's `export` reads specially (a leading '-' stays inside
    # `sasl.password=...`). Checked with kcat and aiokafka: the password is not why Debian 12's
    # kcat fails to log in (tests/e2e/test_kcat_scram.py says why).
    password = secrets.token_urlsafe(24)
    kafka.tool(
        CONFIG_TOOL,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        username,
        "--add-config",
        f"{SCRAM}=[iterations=8192,password={password}]",
    )
    principal = f"User:{username}"

    def allow(operations: tuple[str, ...], kind: str, names: tuple[str, ...], pattern: str) -> None:
        """One AclCommand for every name: each run is a JVM start, seconds on a small machine."""
        if not names:
            return
        flags = [flag for operation in operations for flag in ("--operation", operation)]
        resources = [flag for name in names for flag in (kind, name)]
        kafka.tool(
            ACL_TOOL,
            "--add",
            "--allow-principal",
            principal,
            *flags,
            *resources,
            "--resource-pattern-type",
            pattern,
        )

    allow(("Read", "Describe"), "--topic", read, "literal")
    allow(("Write", "Describe"), "--topic", write, "literal")
    allow(("Read",), "--group", (group_prefix,), "prefixed")
    return Credentials(
        username=username,
        password=password,
        bootstrap_servers=kafka.settings.sasl_bootstrap_servers,
        topics_read=read,
        topics_written=write,
        group_prefix=group_prefix,
    )
