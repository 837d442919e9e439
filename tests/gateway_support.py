"""The HTTP gateway as its callers reach it in tests: a real process on the local stack, real
tokens from the local identity provider, and a small client per tenant."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from scripts.harness import ServiceProcess, free_port
from scripts.stack.identity import IdentityProvider
from shared.contracts.envelope import EventData
from shared.contracts.tenants import Tenant

# Seals the webhooks' secrets of every gateway a test run starts (one key for the run: a gateway
# restarted within a test still opens what the one before sealed).
SECRET_KEY = secrets.token_urlsafe(32)


@asynccontextmanager
async def gateway_running(
    env: Mapping[str, str],
    issuer: str,
    log_path: Path,
    timeout: float = 60.0,
    extra: Mapping[str, str] | None = None,
) -> AsyncIterator[str]:
    """The gateway as a process, ready; its base URL. Stopped afterwards, expected to exit 0."""
    process = ServiceProcess(
        "gateway",
        {
            "INSATS_GATEWAY_SECRET_KEY": SECRET_KEY,
            **env,
            "INSATS_OIDC_ISSUER": issuer,
            **(extra or {}),
        },
        log_path,
        free_port(),
        command=("gateway",),
    )
    process.start()
    try:
        deadline = time.monotonic() + timeout
        while (found := await asyncio.to_thread(process.health))[0] != 200:
            if not process.alive():
                raise RuntimeError(f"the gateway exited; see {log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the gateway is not ready: {found}; see {log_path}")
            await asyncio.sleep(0.25)
        yield f"http://127.0.0.1:{process.port}"
    finally:
        code = process.terminate()
    assert code == 0, f"the gateway exited {code}; see {log_path}"


@dataclass
class HttpTenant:
    """One tenant's system calling the gateway with its own client's token."""

    tenant: Tenant
    token: str
    http: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def post(
        self, path: str, data: EventData | dict[str, Any], key: str | None = None
    ) -> httpx.Response:
        body = data.model_dump(mode="json") if isinstance(data, EventData) else data
        return await self.http.post(
            f"/v1{path}",
            json=body,
            headers={**self.headers, "Idempotency-Key": key or str(uuid.uuid4())},
        )

    async def send(self, path: str, data: EventData, key: str | None = None) -> str:
        """Post and expect it accepted; the request id."""
        response = await self.post(path, data, key)
        assert response.status_code == 202, (response.status_code, response.text)
        return str(response.json()["request_id"])

    async def status(self, request_id: str) -> httpx.Response:
        return await self.http.get(f"/v1/requests/{request_id}", headers=self.headers)

    async def ended(self, request_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The request's status once its answering service has handled it."""
        deadline = time.monotonic() + timeout
        while True:
            response = await self.status(request_id)
            assert response.status_code == 200, response.text
            found: dict[str, Any] = response.json()
            if found["status"] != "received":
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{request_id} still {found}")
            await asyncio.sleep(0.2)


@asynccontextmanager
async def http_tenants(
    provider: IdentityProvider, base_url: str, *tenants: Tenant
) -> AsyncIterator[dict[Tenant, HttpTenant]]:
    """Each tenant's API client registered with the identity provider, and its token."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        found = {}
        for tenant in tenants:
            client = await asyncio.to_thread(provider.register_api_client, tenant)
            token = await asyncio.to_thread(provider.client_token, client)
            found[tenant] = HttpTenant(tenant, token, http)
        yield found
