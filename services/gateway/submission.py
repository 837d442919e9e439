"""One request from a tenant, made the contract's event on its own topic: what the API, the CSV
upload and the portal all do, so each is idempotent and refused in the same way."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.gateway.auth import Caller
from services.gateway.errors import GatewayError
from services.gateway.problems import GatewayRefusal
from services.gateway.publisher import PublishFailed
from services.gateway.requests_store import StoredRequest
from services.gateway.routes import Route
from services.gateway.runtime import Gateway
from shared.contracts.envelope import Envelope, EventData


@dataclass(frozen=True)
class Submitted:
    request: StoredRequest
    replayed: bool  # the same request was made before: no second event


async def submit(
    gw: Gateway, caller: Caller, route: Route, data: EventData, idempotency_key: str
) -> Submitted:
    if not route.allowed_for(caller.tenant.kind):
        raise GatewayError(403, GatewayRefusal.NOT_ALLOWED)
    if not isinstance(data, route.model):
        raise GatewayError(422, GatewayRefusal.SCHEMA_VIOLATION)
    event_type = route.model.TYPE
    digest = hashlib.sha256(event_type.encode() + b"\0" + data.model_dump_json().encode())
    stored = await gw.requests.claim(
        caller.tenant, idempotency_key, event_type, digest.hexdigest(), datetime.now(UTC)
    )
    if stored.digest != digest.hexdigest() or stored.event_type != event_type:
        raise GatewayError(409, GatewayRefusal.IDEMPOTENCY_KEY_REUSED)
    if stored.published:
        return Submitted(stored, replayed=True)
    try:
        origin = await gw.publisher.publish(
            envelope_of(data, caller, stored), caller.tenant, route.channel
        )
    except PublishFailed:
        raise GatewayError(503, GatewayRefusal.UNAVAILABLE, retry_after=5) from None
    await gw.requests.published(stored.event_id, origin.rsplit(":", 2)[0], origin)
    gw.log.info(
        "request published",
        type=event_type,
        request_id=str(stored.event_id),
        tenant=caller.tenant.key,
        actor=caller.actor,
        origin=origin,
    )
    return Submitted(stored, replayed=False)


def envelope_of(data: EventData, caller: Caller, stored: StoredRequest) -> Envelope[Any]:
    """The event as the tenant would have published it: its own source, the time the gateway
    received it, and the municipality it concerns where the body names one."""
    named = getattr(data, "municipality", None)
    typed: Any = Envelope[type(data)]  # type: ignore[misc]
    envelope: Envelope[Any] = typed(
        id=stored.event_id,
        type=type(data).TYPE,
        source=caller.tenant.urn,
        time=stored.received_at,
        subject=data.subject(),
        municipality=named if isinstance(named, str) else caller.tenant.kommunkod,
        data=data,
    )
    return envelope
