"""Credentials and ACLs for outside systems on the local broker: what `insats partner onboard`
and `insats municipality onboard` do here, and what Strimzi's KafkaUser resources do in
deploy/k8s. A partner reads its own placement stream and writes reports; a municipality reads
its residents' stream and writes to the municipal topics. Nothing else."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from scripts.stack.kafka import LocalKafka
from shared.contracts import topics

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


def onboard_partner(kafka: LocalKafka, partner_id: str, topic_prefix: str = "") -> Credentials:
    return _onboard(
        kafka,
        username=f"partner-{partner_id}",
        read=(topic_prefix + topics.partner_placements_topic(partner_id),),
        write=(topic_prefix + topics.PARTNER_REPORTS,),
        group_prefix=f"partner-{partner_id}.",
    )


def onboard_municipality(kafka: LocalKafka, kommunkod: str, topic_prefix: str = "") -> Credentials:
    return _onboard(
        kafka,
        username=f"kommun-{kommunkod}",
        read=(topic_prefix + topics.municipality_events_topic(kommunkod),),
        write=tuple(
            topic_prefix + t
            for t in (
                topics.MUNICIPAL_REFERRALS,
                topics.MUNICIPAL_PROGRAMMES,
                topics.MUNICIPAL_PARTNERS,
                topics.MUNICIPAL_OUTCOME_REPORTS,
            )
        ),
        group_prefix=f"kommun-{kommunkod}.",
    )


def _onboard(
    kafka: LocalKafka,
    *,
    username: str,
    read: tuple[str, ...],
    write: tuple[str, ...],
    group_prefix: str,
) -> Credentials:
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

    def allow(operations: tuple[str, ...], *resource: str) -> None:
        flags = [flag for operation in operations for flag in ("--operation", operation)]
        kafka.tool(ACL_TOOL, "--add", "--allow-principal", principal, *flags, *resource)

    for topic in read:
        allow(("Read", "Describe"), "--topic", topic)
    for topic in write:
        allow(("Write", "Describe"), "--topic", topic)
    allow(("Read",), "--group", group_prefix, "--resource-pattern-type", "prefixed")
    return Credentials(
        username=username,
        password=password,
        bootstrap_servers=kafka.settings.sasl_bootstrap_servers,
        topics_read=read,
        topics_written=write,
        group_prefix=group_prefix,
    )
