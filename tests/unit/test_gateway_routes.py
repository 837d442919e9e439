"""The gateway's routes cover the contract: every event a tenant publishes has a path, each kind
of tenant may post only what it may publish over Kafka, and the status reader asks the services
that really read each channel."""

from __future__ import annotations

import hashlib

import pytest

from services.gateway.routes import ROUTES
from services.gateway.status import READERS
from shared.contracts.registry import EVENT_TYPES
from shared.contracts.tenants import CHANNELS, Channel, TenantKind
from shared.services import SERVICES, service_app
from shared.settings import Settings


def test_every_event_a_tenant_publishes_has_one_path() -> None:
    inbound = {name for name, model in EVENT_TYPES.items() if model.CHANNEL is not None}
    routed = [route.model.TYPE for route in ROUTES]

    assert sorted(routed) == sorted(inbound)
    assert len({route.path for route in ROUTES}) == len(ROUTES)


@pytest.mark.parametrize("kind", list(TenantKind))
def test_a_tenant_may_post_exactly_what_it_may_publish_on_kafka(kind: TenantKind) -> None:
    allowed = {route.channel for route in ROUTES if route.allowed_for(kind)}

    assert allowed == set(CHANNELS[kind])


def test_partners_post_only_placement_reports() -> None:
    paths = [route.path for route in ROUTES if route.allowed_for(TenantKind.PARTNER)]

    assert paths and all(path.startswith("/placement-reports/") for path in paths)


def _subscribed() -> dict[Channel, set[tuple[str, bool]]]:
    settings = Settings(
        pseudonym_key="p" * 32,
        audience_key="a" * 32,
        identity_master_key=hashlib.sha256(b"gateway routes").hexdigest(),
    )
    found: dict[Channel, set[tuple[str, bool]]] = {}
    for service in SERVICES:
        runtime = service_app(service).create(settings, configure_logs=False)
        for consumer in runtime.consumers:
            subscription = consumer.subscription
            if subscription.channel is not None:
                found.setdefault(subscription.channel, set()).add((service, subscription.answers))
    return found


def test_the_status_asks_the_services_that_read_each_channel_the_answering_one_first() -> None:
    subscribed = _subscribed()

    for channel, readers in READERS.items():
        assert {service for service, _ in subscribed[channel]} == set(readers), channel
        answering = {service for service, answers in subscribed[channel] if answers}
        assert answering == {readers[0]}, channel
    assert set(READERS) == set(Channel)
