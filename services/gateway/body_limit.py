"""Bounds every request before any parsing: a body over the limit is refused (413) without being
read past the limit, and a body that is not JSON (415). Pure ASGI, so a chunked upload with no
Content-Length is counted as it arrives."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.problems import GatewayRefusal, Problem

_JSON_TYPES = ("application/json", "application/cloudevents+json")


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        files: dict[str, tuple[frozenset[str], int]] | None = None,
    ) -> None:
        """`files`: paths that take another kind of body (a CSV file), with their own bound."""
        self.app = app
        self.max_bytes = max_bytes
        self.files = files or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope["headers"]}
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1")
        accepted, max_bytes = self.files.get(
            scope["path"], (frozenset(_JSON_TYPES), self.max_bytes)
        )
        portal = scope["path"].startswith("/portal/")
        if portal:
            accepted = frozenset({"application/x-www-form-urlencoded"})
        # A POST that sends nothing (an action such as /v1/webhooks/{id}/enable) has no media
        # type to check; one that needs a body is refused by its endpoint (422). The body is
        # still read below, so one that arrives after all is refused here.
        bodiless = not portal and _declares_no_body(headers)
        if media_type.lower() not in accepted and not bodiless:
            await _refuse(send, 415, GatewayRefusal.UNSUPPORTED_MEDIA_TYPE)
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await _refuse(send, 413, GatewayRefusal.PAYLOAD_TOO_LARGE)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > max_bytes:
                await _refuse(send, 413, GatewayRefusal.PAYLOAD_TOO_LARGE)
                return
            if not message.get("more_body", False):
                break
        if bodiless and body:
            await _refuse(send, 415, GatewayRefusal.UNSUPPORTED_MEDIA_TYPE)
            return
        await self.app(scope, _replay(bytes(body)), send)


def _declares_no_body(headers: dict[bytes, bytes]) -> bool:
    return (
        b"content-type" not in headers
        and b"transfer-encoding" not in headers
        and headers.get(b"content-length", b"0") == b"0"
    )


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Send, status: int, reason: GatewayRefusal) -> None:
    payload: dict[str, Any] = Problem.of(reason).model_dump(mode="json")
    body = json.dumps(payload, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
