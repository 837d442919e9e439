"""Intake's door for the portal's identity reads refuses, before touching any data, whatever
is not the portal asking properly: the wrong method, no or the wrong secret, an oversized or
malformed body, a reason too short for the audit. (Reads themselves, the audit and the
municipality's scope are tested on the real stack in tests/e2e/test_portal.py.)"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from services.intake.identity import IdentityVault
from services.intake.identity_endpoint import IdentityReadEndpoint, masked
from services.intake.store import IntakeStore
from shared.audience import AudiencePseudonyms

SECRET = "s" * 40
GOOD = {
    "municipality": "1380",
    "participant_id": "a-" + "0" * 32,
    "actor": "municipality:1380/insats-portal/u-1 (Ada)",
    "reason": "Uppföljningssamtal",
}


class Untouchable:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused request reached the store ({name})")


def endpoint() -> IdentityReadEndpoint:
    return IdentityReadEndpoint(
        cast(IntakeStore, Untouchable()),
        cast(IdentityVault, Untouchable()),
        AudiencePseudonyms(b"k" * 32),
        SECRET,
    )


async def ask(
    body: bytes, *, method: str = "POST", secret: str | None = SECRET, chunks: int = 1
) -> tuple[int, dict[str, Any]]:
    headers = [] if secret is None else [(b"authorization", f"Bearer {secret}".encode())]
    size = max(1, len(body) // chunks + 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/identity-reads", "headers": headers}
    await endpoint()(scope, receive, send)  # type: ignore[arg-type]
    return sent[0]["status"], json.loads(sent[1]["body"])


async def test_only_a_post_is_answered() -> None:
    assert await ask(b"", method="GET") == (405, {"reason": "METHOD_NOT_ALLOWED"})


@pytest.mark.parametrize("secret", [None, "", "s" * 39, "t" * 40])
async def test_a_caller_without_the_portals_secret_reads_nothing(secret: str | None) -> None:
    assert await ask(json.dumps(GOOD).encode(), secret=secret) == (
        401,
        {"reason": "UNAUTHENTICATED"},
    )


async def test_a_body_past_its_bound_is_refused_without_reading_it_all() -> None:
    body = json.dumps({**GOOD, "reason": "x" * 20_000}).encode()
    assert await ask(body, chunks=8) == (413, {"reason": "TOO_LARGE"})


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "kort"},
        {"actor": ""},
        {"municipality": "13800"},
        {"participant_id": "p-1"},
        {"participant_id": "a-" + "0" * 32 + "' OR 1=1"},
        {"personnummer": "198804123105"},
    ],
)
async def test_a_request_out_of_its_bounds_is_refused(change: dict[str, str]) -> None:
    body = json.dumps({**GOOD, **change}).encode()
    assert await ask(body) == (422, {"reason": "INVALID_REQUEST"})


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff\xfe", b"null"])
async def test_bytes_that_are_no_request_are_refused(body: bytes) -> None:
    assert await ask(body) == (422, {"reason": "INVALID_REQUEST"})


def test_the_portal_sees_the_date_part_of_a_personnummer_only() -> None:
    assert masked("198804123105") == "19880412-****"
