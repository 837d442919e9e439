"""`insats municipality onboard`, `insats owner onboard` and `insats partner onboard`: a tenant's
own topics, a SCRAM user and exactly the ACLs it needs, on the local stack's broker. On
Kubernetes the same is a Strimzi KafkaUser and KafkaTopics (deploy/k8s/base/kafka/tenants)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from scripts.stack import Stack
from scripts.stack.access import Credentials, onboard
from shared.contracts.tenants import InvalidTenant, Tenant
from shared.messaging.kafka import ensure_topics, tenant_topic_configs
from shared.settings import Settings

partner_app = typer.Typer(help="A partner's own topics and Kafka user (local stack).")
municipality_app = typer.Typer(help="A municipality's own topics and Kafka user (local stack).")
owner_app = typer.Typer(
    help="A programme owner's (an association of municipalities) own topics and Kafka user."
)
console = Console()

_SHARED = typer.Option(
    "--shared-topics",
    help="Also let it write the shared topics of earlier versions, while a deployment migrates "
    "(the services read them only with INSATS_SHARED_INBOUND_TOPICS=true).",
)


def _show(credentials: Credentials) -> None:
    console.print(
        f"user {credentials.username} on {credentials.bootstrap_servers} "
        "(SASL_PLAINTEXT, SCRAM-SHA-512)"
    )
    console.print(f"reads {', '.join(credentials.topics_read)}")
    console.print(f"writes {', '.join(credentials.topics_written)}")
    console.print(f"consumer groups must start with {credentials.group_prefix}")
    for key, value in credentials.environment().items():
        console.print(f"export {key}={value}")


def _onboard(make: str, ident: str, shared_topics: bool) -> None:
    try:
        tenant = getattr(Tenant, make)(ident)
    except InvalidTenant as problem:
        raise typer.BadParameter(str(problem)) from None
    settings = Settings()
    asyncio.run(ensure_topics(settings, tenant_topic_configs(settings, tenant)))
    _show(onboard(Stack().kafka, tenant, settings.topic_prefix, shared_topics=shared_topics))


@partner_app.command("onboard")
def partner_onboard(
    partner_id: Annotated[str, typer.Argument(help="The partner's id")],
    shared_topics: Annotated[bool, _SHARED] = False,
) -> None:
    """Create the partner's topics, a SCRAM user and its ACLs; print the credentials."""
    _onboard("partner", partner_id, shared_topics)


@municipality_app.command("onboard")
def municipality_onboard(
    kommunkod: Annotated[str, typer.Argument(help="The kommunkod")],
    shared_topics: Annotated[bool, _SHARED] = False,
) -> None:
    """Create the municipality's topics, a SCRAM user and its ACLs; print the credentials."""
    _onboard("municipality", kommunkod, shared_topics)


@owner_app.command("onboard")
def owner_onboard(
    owner_id: Annotated[str, typer.Argument(help="The owner's id, e.g. kommunforbundet-kalmar")],
    shared_topics: Annotated[bool, _SHARED] = False,
) -> None:
    """Create the programme owner's topics, a SCRAM user and its ACLs; print the credentials."""
    _onboard("owner", owner_id, shared_topics)
