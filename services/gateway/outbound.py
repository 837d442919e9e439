"""The gateway's outbound side, started and stopped with the app: the feed consumer that files
every tenant's stream, the stores, and the webhook deliverer (only where there is a key to seal
the webhooks' secrets with: without INSATS_GATEWAY_SECRET_KEY the feed works, webhooks do not)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Request
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.feed_consumer import FeedConsumer
from services.gateway.feed_store import FeedStore
from services.gateway.portal.view_store import PortalViews
from services.gateway.settings import GatewaySettings
from services.gateway.webhook_deliverer import WebhookDeliverer
from services.gateway.webhook_secrets import SecretBox
from services.gateway.webhook_store import WebhookStore
from shared.observability import get_logger
from shared.settings import Settings

log = get_logger(__name__)


@dataclass
class Outbound:
    settings: Settings
    gateway_settings: GatewaySettings
    feed: FeedStore
    webhooks: WebhookStore
    consumer: FeedConsumer
    deliverer: WebhookDeliverer | None

    @classmethod
    async def start(
        cls,
        settings: Settings,
        gateway_settings: GatewaySettings,
        client: AsyncMongoClient[dict[str, Any]],
        db: AsyncDatabase[dict[str, Any]],
        views: PortalViews | None = None,
    ) -> Outbound:
        feed = FeedStore(client, db, also=views.file if views is not None else None)
        await feed.ensure_indexes(timedelta(days=gateway_settings.gateway_feed_retention_days))
        if views is not None:
            # Before the consumer starts, so that nothing it stores is filed twice.
            await views.ensure_indexes()
            if filed := await views.file_the_feed(feed.feed):
                log.info("the feed's entries filed for the portal", count=filed)
        key = gateway_settings.gateway_secret_key
        webhooks = WebhookStore(db, SecretBox(key) if key is not None else None)
        await webhooks.ensure_indexes()
        deliverer = None
        if webhooks.sealing:
            sealed = await webhooks.seal_clear_secrets()
            if sealed:
                log.info("webhook secrets stored in clear sealed", count=sealed)
            deliverer = WebhookDeliverer(webhooks, feed, gateway_settings)
        else:
            # Said at every start: subscriptions registered while a key was set wait unsent.
            waiting = await webhooks.webhooks.count_documents({})
            log.warning("webhooks off: INSATS_GATEWAY_SECRET_KEY is not set", waiting=waiting)
        consumer = (
            FeedConsumer(settings, feed)
            if deliverer is None
            else FeedConsumer(settings, feed, on_stored=deliverer.wake)
        )
        await consumer.start()
        if deliverer is not None:
            deliverer.start()
        return cls(settings, gateway_settings, feed, webhooks, consumer, deliverer)

    def alive(self) -> bool:
        """Readiness: a replica whose consumer or deliverer ended does no outbound work."""
        return self.consumer.alive() and (self.deliverer is None or self.deliverer.alive())

    def wake_deliverer(self) -> None:
        if self.deliverer is not None:
            self.deliverer.wake()

    async def stop(self) -> None:
        # Both within the pod's grace, beside the rest of the shutdown; what is cut short is
        # delivered again (at least once), never lost.
        grace = self.settings.shutdown_grace_seconds / 4
        if self.deliverer is not None:
            await self.deliverer.stop(grace)
        await self.consumer.stop(grace)


async def outbound(request: Request) -> Outbound:
    found: Outbound = request.app.state.outbound
    return found


async def outbound_ready(request: Request) -> bool:
    """For /health/ready: False before the start and once a background task died."""
    found: Outbound | None = getattr(request.app.state, "outbound", None)
    return found is not None and found.alive()
