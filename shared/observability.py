"""Logs, metrics and the counters the services and the fault tests read.

Logs: structlog, JSON off a terminal and pretty on one; the standard library's loggers (FastStream,
aiokafka, pymongo) go through the same processors. Context such as the service, the event id and
the correlation id is bound with contextvars, so every line of one message's handling carries it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pymongo import monitoring


def configure_logging(service: str, log_format: str = "auto", level: str = "INFO") -> None:
    json_logs = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json_logs else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every rebalance and retry at INFO/WARNING; keep them, but not its DEBUG chatter.
    logging.getLogger("aiokafka").setLevel(max(logging.INFO, root.level))
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def _identity(_: Any, __: str, event_dict: Any) -> Any:
    return event_dict


def event_fields(envelope: Any) -> dict[str, Any]:
    """What every log line about one event carries, so one message's story can be followed
    across services by its correlation id. Never the payload: it may hold personal data."""
    return {
        "event_id": str(envelope.id),
        "event_type": envelope.type,
        "correlation_id": envelope.correlationid,
        "municipality": envelope.municipality,
    }


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


class Metrics:
    """The service's own Prometheus metrics, beside FastStream's middleware metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ("service", "subscriber")
        self.applied = Counter(
            "insats_events_applied_total", "Events applied to state", labels, registry=self.registry
        )
        self.duplicates = Counter(
            "insats_events_duplicate_total",
            "Redelivered events skipped by the inbox",
            labels,
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "insats_events_dead_lettered_total",
            "Messages sent to the dead-letter topic",
            (*labels, "code"),
            registry=self.registry,
        )
        self.rejected = Counter(
            "insats_inputs_rejected_total",
            "Inputs refused with a reason answered to their sender (claims a tenant may not make)",
            (*labels, "code"),
            registry=self.registry,
        )
        self.retries = Counter(
            "insats_handler_retries_total", "Handler retries", labels, registry=self.registry
        )
        self.batch_seconds = Histogram(
            "insats_batch_seconds",
            "Time to apply one fetched batch",
            labels,
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.outbox_published = Counter(
            "insats_outbox_published_total",
            "Outbox records published by the relay",
            ("service",),
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "insats_outbox_pending",
            "Outbox records not yet published",
            ("service",),
            registry=self.registry,
        )
        self.outbox_parked = Counter(
            "insats_outbox_parked_total",
            "Records the relay could not publish, parked with their reason",
            ("service", "reason"),
            registry=self.registry,
        )
        self.outbox_producer_renewed = Counter(
            "insats_outbox_producer_renewed_total",
            "New producers the relay started after the broker lost the old one's session",
            ("service",),
            registry=self.registry,
        )
        self.outbox_oldest_seconds = Gauge(
            "insats_outbox_oldest_seconds",
            "Age of the oldest record waiting in the outbox",
            ("service",),
            registry=self.registry,
        )
        self.database_commands = Counter(
            "insats_database_commands_total",
            "Commands the service sent to its database (each a round trip), by command",
            ("service", "command"),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "insats_consumer_lag",
            "Records behind the end of each assigned partition",
            (*labels, "topic", "partition"),
            registry=self.registry,
        )


class CommandCounter(monitoring.CommandListener):
    """Counts every command a client sends to the database: the round trips each piece of work
    costs, which bench/ reports per referral and a test holds to a budget."""

    def __init__(self, metrics: Metrics, service: str) -> None:
        self._counter = metrics.database_commands
        self._service = service

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self._counter.labels(service=self._service, command=event.command_name).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None
