"""Sends each subscription's feed entries to its URL, one at a time and in order, at least once.

Every replica looks for subscriptions with entries after their cursor whose next attempt is due,
takes the lease of each (webhook_store.py) and delivers: a POST of the envelope, signed; the
cursor moves on a 2xx only. On any other answer, or none within the timeout, the subscription
waits INSATS_GATEWAY_WEBHOOK_BACKOFF_INITIAL_SECONDS, doubling per attempt of the same entry up
to INSATS_GATEWAY_WEBHOOK_BACKOFF_MAX_SECONDS, and its lease is let go so that any replica may
make the next attempt. An entry is retried until it is delivered or leaves the feed by its
retention; one the feed no longer holds is skipped. Receivers deduplicate by event id: a replica
that dies after the receiver answered and before the cursor moved sends the entry again.

A subscription that has failed for INSATS_GATEWAY_WEBHOOK_DISABLE_AFTER_HOURS without a success,
and at least INSATS_GATEWAY_WEBHOOK_DISABLE_AFTER_FAILURES attempts in a row, is disabled: a
receiver gone for good would otherwise be tried every few minutes for ever. Its cursor stays, so
once its tenant enables it again it goes on from the entry it failed at.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from pymongo.errors import PyMongoError

from services.gateway.feed_store import FeedEntry, FeedStore
from services.gateway.settings import GatewaySettings
from services.gateway.webhook_secrets import SecretUnreadable
from services.gateway.webhook_signature import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    signature,
)
from services.gateway.webhook_store import Subscription, WebhookStore
from services.gateway.webhook_urls import resolves_to_allowed
from shared.observability import get_logger

log = get_logger(__name__)
# Deliveries in flight per replica: a receiver that is slow holds one of them, not the others.
_CONCURRENCY = 16


def backoff_seconds(attempt: int, initial: float, ceiling: float) -> float:
    """The wait after the `attempt`th failed attempt of an entry: initial, doubling, capped."""
    doubled: float = initial * 2.0 ** min(attempt - 1, 62)
    return min(doubled, ceiling)


def disable_reason(
    failing_since: datetime,
    failures: int,
    now: datetime,
    *,
    after: timedelta,
    min_failures: int,
) -> str | None:
    """Why a subscription failing since `failing_since`, with `failures` failed attempts in a
    row (the one just made included), is disabled now; None while it is still tried. Both
    bounds must be reached: the time alone would also count a gateway that was itself down
    (no attempts made), the count alone would depend on the backoff settings."""
    if now - failing_since < after or failures < min_failures:
        return None
    return f"failed {failures} attempts in a row since {failing_since:%Y-%m-%dT%H:%M:%SZ}"


class WebhookDeliverer:
    def __init__(
        self,
        store: WebhookStore,
        feed: FeedStore,
        settings: GatewaySettings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.feed = feed
        self.settings = settings
        self.owner = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._http = http or httpx.AsyncClient(
            timeout=settings.gateway_webhook_timeout_seconds,
            follow_redirects=False,  # a redirect could lead inside the network: not followed
            headers={"User-Agent": "Insats-Webhooks/1"},
        )
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._workers: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-webhook-deliverer")

    def wake(self) -> None:
        """New feed entries: look now rather than at the next poll."""
        self._wake.set()

    def alive(self) -> bool:
        return self._task is not None and (self._stopping or not self._task.done())

    async def stop(self, grace_seconds: float) -> None:
        """Let deliveries in flight finish within the grace, then let every lease go."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        workers = list(self._workers.values())
        if workers:
            _, late = await asyncio.wait(workers, timeout=grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._http.aclose()

    async def _run(self) -> None:
        poll = self.settings.gateway_webhook_poll_seconds
        while not self._stopping:
            self._wake.clear()
            try:
                await self._dispatch()
            except PyMongoError as error:
                log.warning("webhook deliveries not looked for", error=type(error).__name__)
            except Exception:
                log.exception("webhook deliveries not looked for")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)

    async def _dispatch(self) -> None:
        free = _CONCURRENCY - len(self._workers)
        if free <= 0:
            return
        now = self._now()
        candidates = [d for d in await self.store.due(self.owner, now) if d.id not in self._workers]
        heads = await self.feed.heads(sorted({d.tenant for d in candidates}))
        # Only those with something new are worth a lease.
        for due in [d for d in candidates if heads[d.tenant] > d.cursor][:free]:
            held = await self.store.claim(due.id, self.owner, now, self._lease_until())
            if held is not None:
                worker = asyncio.create_task(self._serve(held, heads[due.tenant]))
                self._workers[held.id] = worker
                worker.add_done_callback(functools.partial(self._finished, held.id))

    def _finished(self, subscription_id: str, _: asyncio.Task[None]) -> None:
        self._workers.pop(subscription_id, None)

    async def _serve(self, held: Subscription, head: int) -> None:
        try:
            current: Subscription | None = held
            while current is not None and not self._stopping:
                current = await self._deliver_next(current, head)
        except Exception:
            log.exception("webhook delivery interrupted", subscription=held.id)
        finally:
            with contextlib.suppress(PyMongoError):
                await self.store.release(held.id, self.owner)

    async def _deliver_next(self, held: Subscription, head: int) -> Subscription | None:
        """Deliver the entry after the cursor; the subscription to go on with, or None to stop
        (nothing left, a failure to wait out, or the lease lost)."""
        page = await self.feed.page(held.tenant, held.cursor, 1)
        if not page:
            # The entries up to `head` were all committed before it was read, so those the feed
            # no longer has have expired: the cursor passes them.
            if head > held.cursor:
                await self.store.passed(held, self.owner, head)
            return None
        entry = page[0]
        attempt = held.attempts + 1 if held.attempt_seq == entry.seq else 1
        counted = await self.store.attempting(
            held, self.owner, entry.seq, attempt, self._lease_until()
        )
        if counted is None:
            return None
        problem = await self._send(counted, entry, attempt)
        if problem is None:
            return await self.store.delivered(counted, self.owner, entry.seq)
        wait = backoff_seconds(
            attempt,
            self.settings.gateway_webhook_backoff_initial_seconds,
            self.settings.gateway_webhook_backoff_max_seconds,
        )
        now = self._now()
        disabled = disable_reason(
            counted.failing_since or now,
            counted.failures + 1,
            now,
            after=timedelta(hours=self.settings.gateway_webhook_disable_after_hours),
            min_failures=self.settings.gateway_webhook_disable_after_failures,
        )
        await self.store.failed(
            counted,
            self.owner,
            problem,
            now + timedelta(seconds=wait),
            now,
            disabled_reason=disabled,
        )
        where = {"subscription": held.id, "tenant": held.tenant.key, "seq": entry.seq}
        if disabled is not None:
            log.warning("webhook disabled", **where, problem=problem, reason=disabled)
        else:
            log.info(
                "webhook delivery failed",
                **where,
                attempt=attempt,
                problem=problem,
                retry_in_seconds=wait,
            )
        return None

    async def _send(self, held: Subscription, entry: FeedEntry, attempt: int) -> str | None:
        """POST one entry; None if the receiver took it, otherwise what went wrong."""
        allow_loopback = self.settings.gateway_webhook_allow_loopback
        if not await resolves_to_allowed(held.url, allow_loopback=allow_loopback):
            return "the URL's host does not resolve to a public address"
        try:
            secret: str | None = await self.store.secret(held)
        except SecretUnreadable:
            secret = None
        if secret is None:
            # The operator's to mend (the key was changed); the tenant sees it in last_error.
            log.error("webhook secret sealed under another key", subscription=held.id)
            return "the gateway cannot sign for this webhook now"
        body = entry.value.encode()
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: entry.event_id,
            ATTEMPT_HEADER: str(attempt),
            SIGNATURE_HEADER: signature(secret, int(self._clock()), body),
        }
        try:
            # Streamed and never read: a receiver's answer is its status, whatever its size.
            async with self._http.stream("POST", held.url, content=body, headers=headers) as answer:
                status = answer.status_code
        except httpx.HTTPError as error:
            return f"no answer: {type(error).__name__}"
        return None if 200 <= status < 300 else f"answered {status}"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _lease_until(self) -> datetime:
        return self._now() + timedelta(seconds=self.settings.gateway_webhook_lease_seconds)
