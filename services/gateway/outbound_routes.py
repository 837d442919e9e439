"""GET /v1/feed and /v1/webhooks: a tenant's own stream over HTTP, read by paging or delivered
to its URL. The tenant is the bearer token's; nothing of another tenant's is ever named."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import PyMongoError

from services.gateway.auth import Caller
from services.gateway.endpoints import IDEMPOTENCY_KEY_PATTERN
from services.gateway.errors import GatewayError
from services.gateway.feed_records import FeedEvent
from services.gateway.feed_store import FeedEntry
from services.gateway.outbound import Outbound, outbound
from services.gateway.problems import FieldError, GatewayRefusal, Problem
from services.gateway.runtime import authenticated
from services.gateway.webhook_secrets import SecretUnreadable
from services.gateway.webhook_store import (
    KeyReused,
    LimitReached,
    Registered,
    Subscription,
    WebhooksOff,
)
from services.gateway.webhook_urls import MAX_URL_CHARS, UrlNotAllowed, checked_url

router = APIRouter()

MAX_PAGE: Final = 500
# Feed numbers fit in every JSON reader's integers (and the database's).
_MAX_SEQ: Final = 2**53 - 1
_MAX_WEBHOOKS: Final = 50  # the setting's own bound


def _refusal(text: str) -> dict[str, Any]:
    return {"model": Problem, "description": text}


_UNAUTHENTICATED: Final[dict[int | str, dict[str, Any]]] = {401: _refusal("No valid bearer token.")}
_UNAVAILABLE: Final[dict[int | str, dict[str, Any]]] = {
    503: _refusal("The database cannot be reached now: try again.")
}
_NOT_YOURS: Final[dict[int | str, dict[str, Any]]] = {404: _refusal("Not yours.")}

# Optional, unlike the event endpoints': a registration without one worked before the key was
# honoured, and still registers a new webhook each time.
OptionalIdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Chosen by the caller, unique per registration. The same key and body again "
        "answers with the webhook registered the first time (its secret included) and registers "
        "no second one; the same key with another body is refused (409). Remembered as long as "
        "that webhook exists. Without a key, each request registers a new webhook.",
        min_length=1,
        max_length=128,
        pattern=IDEMPOTENCY_KEY_PATTERN,
    ),
]


class FeedEntryOut(BaseModel):
    seq: int = Field(ge=1, le=_MAX_SEQ, description="Its number in your feed; page by it.")
    stored_at: datetime = Field(description="When the gateway stored it.")
    event: FeedEvent = Field(description="The event envelope as published on your stream.")


class FeedPage(BaseModel):
    entries: list[FeedEntryOut] = Field(max_length=MAX_PAGE)
    next: int = Field(
        ge=0,
        le=_MAX_SEQ,
        description="Ask with after=next for what follows: the last entry's number, or your "
        "`after` when there is nothing new yet.",
    )
    more: bool = Field(description="Whether more entries follow already: ask again now.")


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="https, at a public address; each event is POSTed to it.",
    )
    after: int | None = Field(
        default=None,
        ge=0,
        le=_MAX_SEQ,
        description="Deliver the feed's entries after this number (as far back as the feed "
        "holds). By default only those stored from now on.",
    )


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str = Field(max_length=MAX_URL_CHARS)
    created_at: datetime
    delivered_up_to: int = Field(
        ge=0,
        le=_MAX_SEQ,
        description="The feed number of the last entry delivered (answered 2xx), or passed "
        "because it expired from the feed first.",
    )
    attempts: int = Field(ge=0, description="Attempts so far of the entry after that one.")
    next_attempt_at: datetime | None = Field(description="While failing: when it is tried again.")
    failing_since: datetime | None
    last_error: str | None = Field(
        max_length=200, description="What the last failed attempt met: 'answered 500', ..."
    )
    disabled_at: datetime | None = Field(
        description="When it was disabled after failing too long: nothing is sent until it is "
        "enabled again (POST /v1/webhooks/{id}/enable), then from delivered_up_to on.",
    )
    disabled_reason: str | None = Field(max_length=200, description="Why it was disabled.")


class WebhookCreated(WebhookOut):
    secret: str = Field(
        max_length=100,
        description="Verifies the Insats-Signature header of each delivery. Shown only now: "
        "keep it; if it is lost, register again and delete this one.",
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookOut] = Field(max_length=_MAX_WEBHOOKS)


@contextmanager
def _database() -> Iterator[None]:
    try:
        yield
    except PyMongoError:
        raise GatewayError(503, GatewayRefusal.UNAVAILABLE, retry_after=5) from None


@router.get(
    "/v1/feed",
    response_model=FeedPage,
    response_model_exclude_unset=True,
    responses={
        **_UNAUTHENTICATED,
        422: _refusal("after or limit out of range."),
        **_UNAVAILABLE,
    },
    tags=["feed"],
    operation_id="read_feed",
    summary="Your organisation's own stream, page by page",
)
async def read_feed(
    caller: Annotated[Caller, Depends(authenticated)],
    out: Annotated[Outbound, Depends(outbound)],
    after: Annotated[
        int, Query(ge=0, le=_MAX_SEQ, description="The last number you have: 0 at first.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> FeedPage:
    """The events on your organisation's stream (what a Kafka consumer reads on
    `insats.<kind>.<id>.events` or `.placements`) numbered above `after`, oldest first. Keep
    the last number you applied and ask with it again. Each event is in the feed once;
    deduplicate by its `id` all the same, as on Kafka: one delivered again after it expired
    from the feed comes back under a new number."""
    with _database():
        found = await out.feed.page(caller.tenant, after, limit + 1)
    entries = [_entry_out(entry) for entry in found[:limit]]
    return FeedPage(
        entries=entries,
        next=entries[-1].seq if entries else after,
        more=len(found) > limit,
    )


@router.post(
    "/v1/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    responses={
        200: {
            "model": WebhookCreated,
            "description": "The same registration again (same Idempotency-Key and body): the "
            "webhook registered then, with header Idempotent-Replayed: true.",
        },
        400: _refusal("The body is not JSON, or a malformed Idempotency-Key."),
        **_UNAUTHENTICATED,
        409: _refusal(
            "Your organisation has as many webhooks as it may (LIMIT_REACHED), or the "
            "Idempotency-Key registered another webhook (IDEMPOTENCY_KEY_REUSED)."
        ),
        413: _refusal("The body is too large."),
        415: _refusal("The body is not application/json."),
        422: _refusal("Not a URL the gateway delivers to: see errors."),
        503: _refusal(
            "The database cannot be reached now: try again (UNAVAILABLE); or this deployment "
            "offers no webhooks (NOT_CONFIGURED)."
        ),
    },
    tags=["webhooks"],
    operation_id="register_webhook",
    summary="Have your stream's events POSTed to a URL of yours",
)
async def register_webhook(
    body: WebhookIn,
    response: Response,
    caller: Annotated[Caller, Depends(authenticated)],
    out: Annotated[Outbound, Depends(outbound)],
    idempotency_key: OptionalIdempotencyKey = None,
) -> WebhookCreated:
    """Each event of your feed after `after` (by default: from now on) is POSTed to `url`, in
    order, signed with the secret this answer shows; see docs/gateway-outbound.md."""
    settings = out.gateway_settings
    if not out.webhooks.sealing:
        raise GatewayError(503, GatewayRefusal.NOT_CONFIGURED)
    try:
        url = checked_url(body.url, allow_loopback=settings.gateway_webhook_allow_loopback)
    except UrlNotAllowed as refusal:
        field = FieldError(location="body.url", message=str(refusal))
        raise GatewayError(422, GatewayRefusal.SCHEMA_VIOLATION, errors=[field]) from None
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    with _database():
        head = (await out.feed.heads([caller.tenant]))[caller.tenant]
        cursor = head if body.after is None else min(body.after, head)
        try:
            registered = await out.webhooks.create(
                caller.tenant,
                url,
                cursor,
                settings.gateway_webhooks_per_tenant,
                datetime.now(UTC),
                idempotency_key=idempotency_key,
                digest=digest,
            )
        except LimitReached:
            raise GatewayError(409, GatewayRefusal.LIMIT_REACHED) from None
        except KeyReused:
            raise GatewayError(409, GatewayRefusal.IDEMPOTENCY_KEY_REUSED) from None
        except (WebhooksOff, SecretUnreadable):
            # Unreadable: the first answer's secret cannot be given again under this key.
            raise GatewayError(503, GatewayRefusal.NOT_CONFIGURED) from None
    if registered.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    else:
        out.wake_deliverer()
    return _created(registered)


@router.get(
    "/v1/webhooks",
    response_model=WebhookList,
    responses={**_UNAUTHENTICATED, **_UNAVAILABLE},
    tags=["webhooks"],
    operation_id="list_webhooks",
    summary="Your organisation's webhooks and how far each got",
)
async def list_webhooks(
    caller: Annotated[Caller, Depends(authenticated)],
    out: Annotated[Outbound, Depends(outbound)],
) -> WebhookList:
    with _database():
        found = await out.webhooks.of_tenant(caller.tenant)
    return WebhookList(webhooks=[_webhook_out(sub) for sub in found[:_MAX_WEBHOOKS]])


@router.delete(
    "/v1/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses={**_UNAUTHENTICATED, **_NOT_YOURS, **_UNAVAILABLE},
    tags=["webhooks"],
    operation_id="delete_webhook",
    summary="Stop a webhook",
)
async def delete_webhook(
    webhook_id: Annotated[uuid.UUID, Path()],
    caller: Annotated[Caller, Depends(authenticated)],
    out: Annotated[Outbound, Depends(outbound)],
) -> Response:
    """Nothing more is sent to it (a delivery already in flight may still arrive)."""
    with _database():
        deleted = await out.webhooks.delete(caller.tenant, str(webhook_id))
    if not deleted:
        raise GatewayError(404, GatewayRefusal.NOT_FOUND)
    return Response(status_code=204)


@router.post(
    "/v1/webhooks/{webhook_id}/enable",
    response_model=WebhookOut,
    responses={**_UNAUTHENTICATED, **_NOT_YOURS, **_UNAVAILABLE},
    tags=["webhooks"],
    operation_id="enable_webhook",
    summary="Enable a webhook that was disabled after failing too long",
)
async def enable_webhook(
    webhook_id: Annotated[uuid.UUID, Path()],
    caller: Annotated[Caller, Depends(authenticated)],
    out: Annotated[Outbound, Depends(outbound)],
) -> WebhookOut:
    """Delivery goes on at once from the entry after `delivered_up_to`, the one it failed at;
    it is disabled again only after failing as long once more. One that is not disabled is
    answered as it is."""
    with _database():
        found = await out.webhooks.enable(caller.tenant, str(webhook_id), datetime.now(UTC))
    if found is None:
        raise GatewayError(404, GatewayRefusal.NOT_FOUND)
    out.wake_deliverer()
    return _webhook_out(found)


def _entry_out(entry: FeedEntry) -> FeedEntryOut:
    return FeedEntryOut(
        seq=entry.seq,
        stored_at=entry.stored_at,
        event=FeedEvent.model_validate_json(entry.value),
    )


def _webhook_out(sub: Subscription) -> WebhookOut:
    waiting = sub.failing_since is not None and not sub.disabled
    return WebhookOut(
        id=uuid.UUID(sub.id),
        url=sub.url,
        created_at=sub.created_at,
        delivered_up_to=sub.cursor,
        attempts=sub.attempts,
        next_attempt_at=sub.next_attempt_at if waiting else None,
        failing_since=sub.failing_since,
        last_error=sub.last_error,
        disabled_at=sub.disabled_at,
        disabled_reason=sub.disabled_reason,
    )


def _created(registered: Registered) -> WebhookCreated:
    shown = _webhook_out(registered.subscription).model_dump()
    return WebhookCreated(**shown, secret=registered.secret)
