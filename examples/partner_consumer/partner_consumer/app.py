"""The partner's consumer as a FastStream app: read our placement stream, keep the roster, and
send what we report back.

For each record, in this order:
1. parse and check it against the published schema; what we cannot read is kept in the
   `rejected` table (for a person to look at) and does not block the stream;
2. in ONE SQLite transaction: skip it if its event id was applied before, else update the
   roster, remember the id and queue any report it causes (the outbox);
3. send the queued reports;
4. only then commit the Kafka offset.
A crash anywhere in between means the record comes again, and step 2 recognises it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from datetime import date, timedelta
from typing import Any

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from partner_consumer.config import Config
from partner_consumer.contract import INPUT_REJECTED, PLACEMENT_UPDATED, Contract
from partner_consumer.reports import AUTO_STEPS, attendance_reported, change_reported
from partner_consumer.roster import Placement, Roster

log = logging.getLogger("partner_consumer")

# After a failure (the disk, the broker) the same record is tried again; not in a tight loop.
RETRY_PAUSE_SECONDS = 2.0
STARTED = "pagar"


def kafka_security(config: Config) -> BaseSecurity | None:
    protocol = config.security_protocol
    context = None
    if protocol in {"SSL", "SASL_SSL"}:
        context = ssl.create_default_context(cafile=config.ssl_cafile)
    if protocol in {"PLAINTEXT", "SSL"}:
        return BaseSecurity(ssl_context=context) if context else None
    if protocol not in {"SASL_PLAINTEXT", "SASL_SSL"}:
        raise SystemExit(f"KAFKA_SECURITY_PROTOCOL {protocol!r} is not supported")
    mechanisms: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "SCRAM-SHA-512": SASLScram512,
        "SCRAM-SHA-256": SASLScram256,
        "PLAIN": SASLPlaintext,
    }
    if config.sasl_mechanism not in mechanisms:
        raise SystemExit(f"KAFKA_SASL_MECHANISM {config.sasl_mechanism!r} is not supported")
    if not (config.username and config.password):
        raise SystemExit("SASL needs KAFKA_USERNAME and KAFKA_PASSWORD")
    return mechanisms[config.sasl_mechanism](
        username=config.username,
        password=config.password,
        ssl_context=context,
        use_ssl=context is not None,
    )


def make_broker(config: Config) -> KafkaBroker:
    return KafkaBroker(
        config.bootstrap_servers,
        security=kafka_security(config),
        client_id=f"partner-{config.partner_id}",
        # A retried send must not become a second record, and a sent one must be on every replica.
        enable_idempotence=True,
        acks="all",
    )


# --- reading the stream ----------------------------------------------------------------------


def apply_record(
    config: Config, roster: Roster, contract: Contract, coordinates: str, value: bytes | None
) -> None:
    """One record into the roster. Raises only when the store itself fails."""
    try:
        event = json.loads(value or b"")
    except ValueError as error:
        with roster.transaction():
            roster.reject(coordinates, f"not JSON: {error}", value)
        log.warning("record %s is not JSON; kept in the rejected table", coordinates)
        return
    if isinstance(event, dict) and event.get("type") == INPUT_REJECTED:
        # Insats refused something this partner sent (a report on a placement that is not
        # ours, say): the reason is machine-readable, the input named by its event id.
        data = event.get("data") or {}
        log.warning(
            "Insats refused our event %s (%s): %s %s",
            data.get("input_id"),
            data.get("input_type"),
            data.get("reason"),
            data.get("message"),
        )
        return
    if not isinstance(event, dict) or event.get("type") != PLACEMENT_UPDATED:
        # Tolerant reading: a type this consumer does not handle (say, a future v2) is skipped.
        kind = event.get("type") if isinstance(event, dict) else type(event).__name__
        log.info("record %s: type %s is not for this consumer", coordinates, kind)
        return
    verdict = contract.check(event)
    if not verdict.ok:
        with roster.transaction():
            roster.reject(coordinates, "; ".join(verdict.problems), value)
        log.warning("record %s does not match the schema: %s", coordinates, verdict.problems)
        return
    if verdict.unknown_values:
        log.warning(
            "record %s has values newer than our schema copy (%s): refresh the schemas",
            coordinates,
            verdict.unknown_values,
        )
    with roster.transaction():
        if roster.already_applied(event["id"]):
            log.info("event %s applied before; skipped", event["id"])
            return
        roster.mark_applied(event["id"], event["type"])
        placement = roster.apply(event["data"])
        if placement is None:
            log.info("placement %s withdrawn; removed", event["data"]["placement_id"])
            return
        log.info("placement %s is now %s", placement.placement_id, placement.status)
        if config.auto_accept:
            _queue_next_step(config, roster, contract, placement, event)


def _queue_next_step(
    config: Config,
    roster: Roster,
    contract: Contract,
    placement: Placement,
    cause: dict[str, Any],
) -> None:
    action = AUTO_STEPS.get(placement.status)
    if action is None:
        return
    report = change_reported(
        placement,
        action,
        date.today(),
        reported_by=config.partner_id,
        source=config.source,
        cause=cause,
    )
    contract.require(report)
    if roster.queue(f"{placement.placement_id}/{action}", config.reports_topic, report):
        log.info("placement %s: %s queued", placement.placement_id, action)


async def send_outbox(broker: KafkaBroker, roster: Roster) -> int:
    """Send the queued reports in the order they were queued; returns how many were sent."""
    sent = 0
    for item in roster.unsent():
        event = json.loads(item.value)
        await broker.publish(
            item.value.encode(),
            item.topic,
            key=item.key.encode(),
            headers={
                "content-type": "application/cloudevents+json",
                "ce_id": item.event_id,
                "ce_type": event["type"],
            },
            correlation_id=event.get("correlationid") or item.event_id,
        )
        # A crash right here sends it again on the next start, with the same event id:
        # Insats deduplicates on it.
        roster.mark_sent(item.event_id)
        sent += 1
    return sent


def create_app(config: Config) -> FastStream:
    roster = Roster(config.roster_db)
    contract = Contract(config.schemas)
    broker = make_broker(config)

    # AckPolicy.MANUAL: the offset is committed by `message.ack()` below, after the roster's
    # transaction and the outbox; never before (ACK_FIRST, FastStream's default, auto-commits
    # what may not be stored yet) and never for a record that failed (ACK would). Every path
    # through the handler must end in ack() or nack(): the consumer's position has already
    # moved past this record, and a later ack() would commit past it.
    @broker.subscriber(
        config.placements_topic,
        group_id=config.consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        title=f"{config.consumer_group}:{config.placements_topic}",
        description=f"Keeps the roster of {config.partner_id}'s placements.",
    )
    async def on_placement_update(message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple), "one record at a time"
        coordinates = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            apply_record(config, roster, contract, coordinates, record.value)
            await send_outbox(broker, roster)
        except Exception:
            log.exception("record %s not done; it will be fetched again", coordinates)
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            await message.nack()  # rewinds to this record
            return
        try:
            await message.ack()
        except Exception as error:
            # E.g. a rebalance took the partition away: the next owner re-reads the record and
            # finds its event id applied.
            log.warning("offset commit failed (%r); the record may come again", error)

    app = FastStream(broker)

    @app.after_startup
    async def send_leftovers() -> None:
        # Reports stored by an earlier run that stopped before it could send them.
        if sent := await send_outbox(broker, roster):
            log.info("sent %d report(s) left from an earlier run", sent)

    @app.after_shutdown
    async def close_roster() -> None:
        roster.close()

    return app


# --- reporting attendance --------------------------------------------------------------------


def week_of(day: date) -> tuple[date, date]:
    """Monday to Sunday of the week `day` is in."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def queue_attendance(
    config: Config,
    roster: Roster,
    contract: Contract,
    *,
    attended_hours: float,
    week: tuple[date, date],
    expected_hours: float | None = None,
    placement_id: str | None = None,
) -> list[str]:
    """Queue one week's attendance for every started placement; returns what was done, per
    placement, for the person running the command."""
    start, end = week
    done: list[str] = []
    for placement in roster.placements():
        if placement_id is not None and placement.placement_id != placement_id:
            continue
        if placement.status != STARTED:
            continue
        if placement.start_date is not None and placement.start_date > end.isoformat():
            done.append(f"{placement.placement_id}: started after {end}; not reported")
            continue
        expected = expected_hours or placement.hours_per_week
        if not expected:
            done.append(f"{placement.placement_id}: hours per week unknown; pass --expected")
            continue
        report = attendance_reported(
            placement, start, end, expected, attended_hours, source=config.source
        )
        contract.require(report)
        with roster.transaction():
            queued = roster.queue(
                f"{placement.placement_id}/attendance/{start.isoformat()}",
                config.reports_topic,
                report,
            )
        done.append(
            f"{placement.placement_id}: {attended_hours} of {expected} h, {start} to {end}"
            if queued
            else f"{placement.placement_id}: week of {start} was reported before"
        )
    return done


async def report_attendance(
    config: Config,
    *,
    attended_hours: float,
    week: tuple[date, date],
    expected_hours: float | None = None,
    placement_id: str | None = None,
) -> list[str]:
    roster = Roster(config.roster_db)
    try:
        done = queue_attendance(
            config,
            roster,
            Contract(config.schemas),
            attended_hours=attended_hours,
            week=week,
            expected_hours=expected_hours,
            placement_id=placement_id,
        )
        # Only the producer: this command publishes and does not consume.
        async with make_broker(config) as broker:
            sent = await send_outbox(broker, roster)
        done.append(f"{sent} report(s) sent to {config.reports_topic}")
        return done
    finally:
        roster.close()
