"""What operators rely on, against the real local stack: health endpoints that tell the truth,
Prometheus metrics, and JSON logs that name the event, its correlation id and municipality."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.harness import Platform, wait_settled
from shared.settings import Settings
from tests.support import event, publish
from tests.unit.factories import programme, referral


async def test_health_metrics_and_logs_of_a_running_service(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    platform = Platform(env, tmp_path)
    platform.start("intake")
    intake = platform.services["intake"]
    try:
        await platform.wait_ready("intake")
        assert intake.health("/health/live") == (200, "ok")
        status, body = intake.health("/health/ready")
        assert status == 200
        assert "database=True" in body and "broker=True" in body and "consumers=True" in body
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(settings, event(referral()))
        await wait_settled(settings, services=["intake"])
        status, metrics = intake.health("/metrics")
    finally:
        assert platform.stop("intake") == {"intake": 0}
    assert status == 200
    applied = [
        line
        for line in metrics.splitlines()
        if line.startswith('insats_events_applied_total{service="intake",subscriber="referrals"}')
    ]
    assert applied and float(applied[0].rsplit(" ", 1)[1]) == 1.0
    assert "faststream_received_messages_total" in metrics  # FastStream's own middleware
    assert "insats_outbox_published_total" in metrics

    lines = [
        json.loads(line)
        for line in (tmp_path / "intake.log").read_text().splitlines()
        if line.startswith("{")
    ]
    [enrolled] = [line for line in lines if line.get("event") == "referral enrolled"]
    assert enrolled["service"] == "intake"
    assert enrolled["municipality"] == "1380"
    assert enrolled["event_id"] and enrolled["correlation_id"]
    assert all("personnummer" not in json.dumps(line) for line in lines)
