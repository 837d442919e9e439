"""The gateway's door for bodies: JSON (or the path's own type) within the bound, and a POST that
sends nothing at all, as an action like enabling a webhook does, let through to its endpoint."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request

from services.gateway.body_limit import BodyLimit


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyLimit, max_bytes=1_024)

    @app.post("/v1/action")
    async def action(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.post("/portal/form")
    async def form() -> dict[str, str]:
        return {}

    return app


async def _post(path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return await client.post(path, **kwargs)  # type: ignore[arg-type]


async def test_a_post_that_sends_nothing_reaches_its_endpoint() -> None:
    answer = await _post("/v1/action")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"bytes": 0}


@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        ("/v1/action", {"content": b"x=1", "headers": {"Content-Type": "text/plain"}}, 415),
        ("/v1/action", {"content": b"{}", "headers": {"Content-Type": ""}}, 415),
        ("/v1/action", {"json": {"a": "b" * 2_000}}, 413),
        ("/portal/form", {}, 415),
    ],
)
async def test_a_body_of_another_type_or_too_large_is_still_refused(
    path: str, kwargs: dict[str, object], status: int
) -> None:
    assert (await _post(path, **kwargs)).status_code == status


async def test_json_within_the_bound_is_let_through() -> None:
    answer = await _post("/v1/action", json={"a": 1})

    assert answer.json() == {"bytes": len(b'{"a":1}')}
