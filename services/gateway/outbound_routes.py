"""GET /v1/feed and /v1/webhooks: a tenant's own stream over HTTP, read by paging or delivered
to its URL. The tenant is the bearer token's; nothing of another tenant's is ever named."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import PyMongoError

from services.gateway.auth import Caller
from services.gateway.errors import GatewayError
from services.gateway.feed_records import FeedEvent
from services.gateway.feed_store import FeedEntry
from services.gateway.outbound import Outbound, outbound
from services.gateway.problems import FieldError, GatewayRefusal, Problem
from services.gateway.runtime import authenticated
from services.gateway.webhook_store import LimitReached, Subscription
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
        400: _refusal("The body is not JSON."),
        **_UNAUTHENTICATED,
        409: _refusal("Your organisation has as many webhooks as it may."),
        413: _refusal("The body is too large."),
        415: _refusal("The body is not application/json."),
        422: _refusal("Not a URL the gateway delivers to: see errors."),
        **_UNAVAILABLE,
    },
    tags=["webhooks"],
    operation_id="register_webhook",
    summary="Have your stream's events POSTed to a URL of yours",
)
async def register_webhook(
    body: WebhookIn,
    caller: Annotated[Caller, Depends(authenticated)],
    out: Annotated[Outbound, Depends(outbound)],
) -> WebhookCreated:
    """Each event of your feed after `after` (by default: from now on) is POSTed to `url`, in
    order, signed with the secret this answer shows once; see docs/gateway-outbound.md."""
    settings = out.gateway_settings
    try:
        url = checked_url(body.url, allow_loopback=settings.gateway_webhook_allow_loopback)
    except UrlNotAllowed as refusal:
        field = FieldError(location="body.url", message=str(refusal))
        raise GatewayError(422, GatewayRefusal.SCHEMA_VIOLATION, errors=[field]) from None
    with _database():
        head = (await out.feed.heads([caller.tenant]))[caller.tenant]
        cursor = head if body.after is None else min(body.after, head)
        try:
            created = await out.webhooks.create(
                caller.tenant,
                url,
                cursor,
                settings.gateway_webhooks_per_tenant,
                datetime.now(UTC),
            )
        except LimitReached:
            raise GatewayError(409, GatewayRefusal.LIMIT_REACHED) from None
    out.deliverer.wake()
    return WebhookCreated(**_webhook_out(created).model_dump(), secret=created.secret)


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
    responses={**_UNAUTHENTICATED, 404: _refusal("Not yours."), **_UNAVAILABLE},
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


def _entry_out(entry: FeedEntry) -> FeedEntryOut:
    return FeedEntryOut(
        seq=entry.seq,
        stored_at=entry.stored_at,
        event=FeedEvent.model_validate_json(entry.value),
    )


def _webhook_out(sub: Subscription) -> WebhookOut:
    failing = sub.failing_since is not None
    return WebhookOut(
        id=uuid.UUID(sub.id),
        url=sub.url,
        created_at=sub.created_at,
        delivered_up_to=sub.cursor,
        attempts=sub.attempts,
        next_attempt_at=sub.next_attempt_at if failing else None,
        failing_since=sub.failing_since,
        last_error=sub.last_error,
    )
