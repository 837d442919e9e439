"""Schemathesis against the gateway's own OpenAPI document, on the real stack with a real token:
every operation, with generated valid and invalid input, answers within its documented
responses and never with a 5xx; and nothing reaches the broker for a request it refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scripts.harness import read_topic
from scripts.stack.identity import IdentityProvider
from shared.contracts.tenants import Tenant
from shared.settings import Settings
from tests.gateway_support import gateway_running

KUNGSBACKA = Tenant.municipality("1384")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
async def gateway_url(
    env: dict[str, str], settings: Settings, identity_provider: IdentityProvider, tmp_path: Path
) -> AsyncIterator[str]:
    async with gateway_running(env, identity_provider.issuer, tmp_path / "gateway.log") as url:
        yield url


def test_every_operation_answers_generated_input_as_documented_and_publishes_only_what_it_accepts(
    gateway_url: str, settings: Settings, identity_provider: IdentityProvider
) -> None:
    client = identity_provider.register_api_client(KUNGSBACKA)
    token = identity_provider.client_token(client)
    document = httpx.get(f"{gateway_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    accepted: set[str] = set()
    answered: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == sum(len(methods) for methods in document["paths"].values())

    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @hypothesis_settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            response = case.call(
                base_url=gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            case.validate_response(response, checks=CHECKS)
            answered[response.status_code] = answered.get(response.status_code, 0) + 1
            if response.status_code in {200, 202} and case.method.upper() == "POST":
                accepted.add(response.json()["request_id"])

        exercise()

    assert accepted, f"no generated request was accepted: {answered}"
    assert set(answered) - {200, 202}, "nothing was refused"
    published = _published(settings)
    assert published <= accepted, "an event reached the broker for a request that was refused"
    assert accepted <= published


def _published(settings: Settings) -> set[str]:
    async def read() -> set[str]:
        found = set()
        for topic in KUNGSBACKA.writes():
            for _, value, _ in await read_topic(settings, topic):
                found.add(json.loads(value)["id"])
        return found

    return asyncio.run(read())
