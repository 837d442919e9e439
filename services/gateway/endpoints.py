"""One FastAPI endpoint per route of the contract: its body is the event type's own model, so
the OpenAPI document carries the contract's JSON Schemas and bounds.

Without `from __future__ import annotations`: each endpoint's body annotation is set from its
route's model at run time, and FastAPI reads it from there.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends, Header, Request, Response
from pydantic import BaseModel, Field

from services.gateway.auth import Caller
from services.gateway.requests_store import StoredRequest
from services.gateway.routes import Route
from services.gateway.runtime import Gateway, authenticated, gateway
from services.gateway.submission import submit

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
        submitted = await submit(gw, caller, route, data, idempotency_key)
        if submitted.replayed:
            response.status_code = 200
            response.headers["Idempotent-Replayed"] = "true"
        else:
            response.status_code = 202
            response.headers["Location"] = f"/v1/requests/{submitted.request.event_id}"
        return accepted(submitted.request)

    publish.__annotations__["data"] = Annotated[model, Body()]
    publish.__name__ = route.operation_id
    return publish
