"""OpenTelemetry across services: intake's handling of a referral is linked from placement's
handling of the enrolment it caused, through the Kafka headers, and both reach a real OTLP/HTTP
receiver. (A batch consumer's span links to the traces of the records in its batch, as the
OpenTelemetry messaging conventions prescribe for batches, rather than taking one as parent.)"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from scripts.harness import Platform, free_port, wait_settled
from shared.settings import Settings
from tests.support import event, publish
from tests.unit.factories import agreement, programme, referral


class _Collector(ThreadingHTTPServer):
    spans: list[tuple[str, str, str, frozenset[str]]]  # (service, trace id, name, linked traces)


class _Receive(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    links = frozenset(link.trace_id.hex() for link in span.links)
                    self.server.spans.append((service, span.trace_id.hex(), span.name, links))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector(("127.0.0.1", free_port()), _Receive)
    server.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


async def test_a_referrals_trace_continues_from_intake_into_placement(
    env: dict[str, str], settings: Settings, collector: _Collector, tmp_path: Path
) -> None:
    host, port = str(collector.server_address[0]), int(collector.server_address[1])
    platform = Platform(
        {**env, "INSATS_OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{host}:{port}"}, tmp_path
    )
    platform.start("intake", "placement")
    try:
        await platform.wait_ready("intake", "placement")
        await publish(settings, event(programme()), event(agreement()))
        await wait_settled(settings, services=["intake", "placement"])
        await publish(settings, event(referral()))
        await wait_settled(settings, services=["intake", "placement"])
    finally:
        platform.stop("intake", "placement")  # shutting down flushes the last spans
    referral_traces: set[str] = set()
    for _ in range(50):
        referral_traces = {
            trace
            for service, trace, name, _ in collector.spans
            if service == "insats-intake" and name.endswith(".referrals process")
        }
        enrolment_links = {
            trace
            for service, _, name, links in collector.spans
            if service == "insats-placement" and "intake.events" in name
            for trace in links
        }
        if referral_traces & enrolment_links:
            break
        await asyncio.sleep(0.1)
    assert referral_traces, collector.spans
    assert referral_traces & enrolment_links, collector.spans
