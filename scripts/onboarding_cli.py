"""`insats partner onboard` and `insats municipality onboard`: a SCRAM user and exactly the ACLs
an outside system needs, on the local stack's broker. On Kubernetes the same is a Strimzi
KafkaUser and KafkaTopic (deploy/k8s/base/kafka/partners, .../municipalities)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from scripts.stack import Stack
from scripts.stack.access import Credentials, onboard_municipality, onboard_partner
from shared.contracts import topics
from shared.messaging.kafka import ensure_topics
from shared.settings import Settings

partner_app = typer.Typer(help="Partners' access to their own stream (local stack).")
municipality_app = typer.Typer(help="Municipalities' access to their own stream (local stack).")
console = Console()


def _show(credentials: Credentials) -> None:
    console.print(
        f"user {credentials.username} on {credentials.bootstrap_servers} "
        "(SASL_PLAINTEXT, SCRAM-SHA-512)"
    )
    console.print(
        f"reads {', '.join(credentials.topics_read)}; "
        f"writes {', '.join(credentials.topics_written)}"
    )
    console.print(f"consumer groups must start with {credentials.group_prefix}")
    for key, value in credentials.environment().items():
        console.print(f"export {key}={value}")


@partner_app.command("onboard")
def partner_onboard(partner_id: Annotated[str, typer.Argument(help="The partner's id")]) -> None:
    """Create the partner's stream topic, a SCRAM user and its ACLs; print the credentials."""
    import asyncio

    settings = Settings()
    asyncio.run(
        ensure_topics(settings, {settings.topic(topics.partner_placements_topic(partner_id)): {}})
    )
    _show(onboard_partner(Stack().kafka, partner_id, settings.topic_prefix))


@municipality_app.command("onboard")
def municipality_onboard(kommunkod: Annotated[str, typer.Argument(help="The kommunkod")]) -> None:
    """Create the municipality's stream topic, a SCRAM user and its ACLs; print the credentials."""
    import asyncio

    settings = Settings()
    asyncio.run(
        ensure_topics(settings, {settings.topic(topics.municipality_events_topic(kommunkod)): {}})
    )
    _show(onboard_municipality(Stack().kafka, kommunkod, settings.topic_prefix))
