"""One FastAPI endpoint per route of the contract: its body is the event type's own model, so
the OpenAPI document carries the contract's JSON Schemas and bounds.

Without `from __future__ import annotations`: each endpoint's body annotation is set from its
route's model at run time, and FastAPI reads it from there.
"""

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Request, Response
from pydantic import BaseModel, Field

from services.gateway.auth import Caller
from services.gateway.errors import GatewayError
from services.gateway.problems import GatewayRefusal
from services.gateway.publisher import PublishFailed
from services.gateway.requests_store import StoredRequest
from services.gateway.routes import Route
from services.gateway.runtime import Gateway, authenticated, gateway
from shared.contracts.envelope import Envelope, EventData

IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,128}$"

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        description="Unique per request, chosen by the caller (a UUID, or the case system's own "
        "id of the record). The same key and body again gives the same answer and no second "
        "event; the same key with another body is refused (409).",
        min_length=1,
        max_length=128,
        pattern=IDEMPOTENCY_KEY_PATTERN,
    ),
]


class Accepted(BaseModel):
    request_id: uuid.UUID = Field(description="Also the event's id on the broker.")
    type: str = Field(description="The event type it became.")
    status: str = Field(description="received: on the broker; see status_url for its end.")
    status_url: str
    received_at: datetime


def accepted(stored: StoredRequest) -> Accepted:
    return Accepted(
        request_id=stored.event_id,
        type=stored.event_type,
        status="received",
        status_url=f"/v1/requests/{stored.event_id}",
        received_at=stored.received_at,
    )


def make_endpoint(route: Route) -> Callable[..., Awaitable[Accepted]]:
    model = route.model

    async def publish(
        request: Request,
        response: Response,
        idempotency_key: IdempotencyKey,
        data: Annotated[Any, Body()],
        caller: Annotated[Caller, Depends(authenticated)],
        gw: Annotated[Gateway, Depends(gateway)],
    ) -> Accepted:
        if not route.allowed_for(caller.tenant.kind):
            raise GatewayError(403, GatewayRefusal.NOT_ALLOWED)
        assert isinstance(data, model)
        digest = hashlib.sha256(
            model.TYPE.encode() + b"\0" + data.model_dump_json().encode()
        ).hexdigest()
        now = datetime.now(UTC)
        stored = await gw.requests.claim(caller.tenant, idempotency_key, model.TYPE, digest, now)
        if stored.digest != digest or stored.event_type != model.TYPE:
            raise GatewayError(409, GatewayRefusal.IDEMPOTENCY_KEY_REUSED)
        if stored.published:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
            return accepted(stored)
        envelope = envelope_of(data, caller, stored)
        try:
            origin = await gw.publisher.publish(envelope, caller.tenant, route.channel)
        except PublishFailed:
            raise GatewayError(503, GatewayRefusal.UNAVAILABLE, retry_after=5) from None
        await gw.requests.published(stored.event_id, origin.rsplit(":", 2)[0], origin)
        gw.log.info(
            "request published",
            type=model.TYPE,
            request_id=str(stored.event_id),
            tenant=caller.tenant.key,
            actor=caller.actor,
            origin=origin,
        )
        response.status_code = 202
        response.headers["Location"] = f"/v1/requests/{stored.event_id}"
        return accepted(stored)

    publish.__annotations__["data"] = Annotated[model, Body()]
    publish.__name__ = route.operation_id
    return publish


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
