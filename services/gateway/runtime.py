"""What every request needs, built once at start: the token verifier, the producer, the
request store and the status reader. Handed to endpoints as FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo import AsyncMongoClient

from services.gateway.auth import (
    Caller,
    IdentityProviderUnavailable,
    TokenVerifier,
    Unauthenticated,
)
from services.gateway.errors import GatewayError
from services.gateway.portal.runtime import Portal
from services.gateway.problems import GatewayRefusal
from services.gateway.publisher import EventPublisher
from services.gateway.requests_store import RequestStore
from services.gateway.settings import GatewaySettings
from services.gateway.status import StatusReader
from shared.settings import Settings


@dataclass
class Gateway:
    settings: Settings
    gateway_settings: GatewaySettings
    verifier: TokenVerifier
    publisher: EventPublisher
    client: AsyncMongoClient[dict[str, Any]]
    requests: RequestStore
    statuses: StatusReader
    log: structlog.stdlib.BoundLogger
    # The web portal, where the portal's client is configured (INSATS_PORTAL_CLIENT_SECRET).
    portal: Portal | None = None


def gateway(request: Request) -> Gateway:
    found: Gateway = request.app.state.gateway
    return found


_bearer = HTTPBearer(
    auto_error=False,
    description="An access token from the identity provider (OAuth2 client credentials for "
    "systems, the portal's login for people). Its insats_tenant claim names your organisation.",
)


async def authenticated(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    gw: Annotated[Gateway, Depends(gateway)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise GatewayError(401, GatewayRefusal.UNAUTHENTICATED)
    try:
        return await gw.verifier.verify(credentials.credentials)
    except Unauthenticated as problem:
        gw.log.info("token refused", reason=str(problem))
        raise GatewayError(401, GatewayRefusal.UNAUTHENTICATED) from None
    except IdentityProviderUnavailable:
        raise GatewayError(503, GatewayRefusal.UNAVAILABLE, retry_after=5) from None
