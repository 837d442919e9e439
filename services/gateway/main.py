"""Runs the gateway in the foreground until SIGTERM, as a container does."""

from __future__ import annotations

import uvicorn

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from shared.http_server import GracefulServer
from shared.observability import configure_logging
from shared.settings import Settings


def serve(
    settings: Settings | None = None, gateway_settings: GatewaySettings | None = None
) -> None:
    settings = settings or Settings()
    configure_logging("gateway", settings.log_format, settings.log_level)
    app = create_app(settings, gateway_settings or GatewaySettings())
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        # Bounds at the socket, before the app: headers and concurrent connections.
        h11_max_incomplete_event_size=16_384,
        limit_concurrency=200,
    )
    GracefulServer(config).run()
