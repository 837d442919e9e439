"""OpenTelemetry tracing across services, through Kafka headers. Off unless an OTLP endpoint is
configured (INSATS_OTEL_EXPORTER_OTLP_ENDPOINT).

FastStream's telemetry middleware opens a span for each batch a service consumes, continuing the
trace named in the record's `traceparent` header. Events a handler causes go out through the
outbox relay, not through FastStream, so the trace context is written into their headers when
they are staged (`trace_headers`), inside the consuming span: the next service continues the
same trace.
"""

from __future__ import annotations

from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def tracer_provider(service: str, endpoint: str | None) -> TracerProvider | None:
    if not endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": f"insats-{service}"}))
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"),
            schedule_delay_millis=500,
        )
    )
    return provider


def trace_headers() -> tuple[tuple[str, bytes], ...]:
    """The current trace context as Kafka headers; empty when no span is active."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple((name, value.encode()) for name, value in sorted(carrier.items()))
