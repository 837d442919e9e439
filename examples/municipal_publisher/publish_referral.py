"""Publish one referral to Insats and wait for the answer, as a municipal case system would.

    python publish_referral.py referral.json [--event-id UUID] [--wait 60]
                               [--answers-from intake|municipality] [--from-beginning]

Only aiokafka and the standard library: the envelope is plain JSON, built by hand (see
docs/contract/schemas/insats.referral.received.v1.json). Exit code: 0 enrolled, 2 rejected,
3 no answer within --wait seconds.

Environment: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092), TOPIC_PREFIX, and for a real
cluster KAFKA_SECURITY_PROTOCOL (SASL_SSL), KAFKA_SASL_MECHANISM (SCRAM-SHA-512),
KAFKA_USERNAME, KAFKA_PASSWORD, KAFKA_SSL_CAFILE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import UnknownTopicOrPartitionError

REFERRAL = "insats.referral.received.v1"
ENROLLED = "insats.participant.enrolled.v1"
REJECTED = ("insats.referral.rejected.v1", "insats.referral.rejected.v2")
RESIDENT_EVENT = "insats.resident-event.v1"

EXIT_ENROLLED, EXIT_REJECTED, EXIT_NO_ANSWER = 0, 2, 3


def connection() -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap_servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    }
    protocol = os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    settings["security_protocol"] = protocol
    if protocol in {"SSL", "SASL_SSL"}:
        settings["ssl_context"] = ssl.create_default_context(
            cafile=os.environ.get("KAFKA_SSL_CAFILE") or None
        )
    if protocol.startswith("SASL"):
        settings["sasl_mechanism"] = os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
        settings["sasl_plain_username"] = os.environ["KAFKA_USERNAME"]
        settings["sasl_plain_password"] = os.environ["KAFKA_PASSWORD"]
    return settings


def topic(name: str) -> str:
    return os.environ.get("TOPIC_PREFIX", "") + name


def load_referral(path: Path, event_id: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if event.get("type") != REFERRAL:
        raise SystemExit(f"{path}: type must be {REFERRAL}")
    data = event["data"]
    # The key decides the partition and so the order: it must be the subject, the referral id.
    if event.get("subject") != data["referral_id"]:
        raise SystemExit(f"{path}: subject must equal data.referral_id")
    event["id"] = event_id
    return event


async def answers_reader(name: str, beginning: bool) -> AIOKafkaConsumer | None:
    """A reader of every partition of the answer topic, positioned at its current end (or its
    beginning) BEFORE we publish, so that no answer can slip past unseen. No consumer group:
    this is a lookup, not a stream we own. None if the topic does not exist."""
    consumer = AIOKafkaConsumer(name, enable_auto_commit=False, **connection())
    try:
        await consumer.start()
    except UnknownTopicOrPartitionError:
        await consumer.stop()
        return None
    partitions = sorted(consumer.assignment())
    if beginning:
        await consumer.seek_to_beginning(*partitions)
    else:
        await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)  # resolve it now, not at the first fetch after our send
    return consumer


def answer_to(record_value: bytes | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to our referral if this record is one: {"type": ..., "data": ...}."""
    try:
        answer = json.loads(record_value or b"")
    except ValueError:
        answer = None  # someone else's malformed record: not ours to judge
    if not isinstance(answer, dict):
        return None
    kind, data = answer.get("type"), answer.get("data") or {}
    if kind == RESIDENT_EVENT:
        # The municipality's own stream: a view of the intake event, its fields under "facts".
        kind, data = data.get("source_type"), data.get("facts") or {}
        ours = data.get("referral_id") == event["data"]["referral_id"]
    else:
        # Our event caused it; or, after a retry with the same id, an earlier copy of it did.
        ours = (
            answer.get("causationid") == event["id"]
            or data.get("referral_id") == event["data"]["referral_id"]
        )
    return {"type": kind, "data": data} if ours and kind in (ENROLLED, *REJECTED) else None


async def publish_and_wait(
    event: dict[str, Any], answers_topic: str, wait: float, beginning: bool
) -> int:
    reader = await answers_reader(answers_topic, beginning) if wait > 0 else None
    producer = AIOKafkaProducer(enable_idempotence=True, acks="all", **connection())
    await producer.start()
    try:
        await producer.send_and_wait(
            # The municipality's own referral topic: only its Kafka user may write it.
            topic(f"insats.municipality.{event['data']['municipality']}.referrals"),
            json.dumps(event).encode(),
            key=event["subject"].encode(),
            headers=[
                ("content-type", b"application/cloudevents+json"),
                ("ce_id", event["id"].encode()),
                ("ce_type", event["type"].encode()),
            ],
        )
        print(f"published {event['subject']} as event {event['id']}")
        if wait <= 0:
            return 0
        if reader is None:
            print(f"cannot read {answers_topic}: it does not exist", file=sys.stderr)
            return EXIT_NO_ANSWER
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            batch = await reader.getmany(timeout_ms=int(min(left, 1.0) * 1000))
            for records in batch.values():
                for record in records:
                    if (answer := answer_to(record.value, event)) is not None:
                        return report(answer)
        print(f"no answer on {answers_topic} within {wait:.0f} s", file=sys.stderr)
        return EXIT_NO_ANSWER
    finally:
        await producer.stop()
        if reader is not None:
            await reader.stop()


def report(answer: dict[str, Any]) -> int:
    data = answer["data"]
    if answer["type"] == ENROLLED:
        print(f"enrolled: participant {data['participant_id']} in {data['programme_id']}")
        return EXIT_ENROLLED
    # v1 has "message", v2 "messages": {"sv", "en"}; the reason code is what systems act on.
    text = data.get("message") or (data.get("messages") or {}).get("en", "")
    print(f"rejected: {data.get('reason')} {text}".rstrip())
    return EXIT_REJECTED


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the referral envelope as JSON")
    parser.add_argument(
        "--event-id",
        default=None,
        help="reuse the id of an earlier attempt when retrying (default: a new UUID)",
    )
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait; 0: do not")
    parser.add_argument(
        "--answers-from",
        choices=("intake", "municipality"),
        default="intake",
        help="insats.intake.events, or your municipality's own stream (what a municipality's "
        "Kafka user may read by default)",
    )
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="also find answers given before this run (a retry of an already applied event)",
    )
    args = parser.parse_args()
    event = load_referral(args.file, args.event_id or str(uuid.uuid4()))
    answers = (
        topic("insats.intake.events")
        if args.answers_from == "intake"
        else topic(f"insats.municipality.{event['data']['municipality']}.events")
    )
    return asyncio.run(publish_and_wait(event, answers, args.wait, args.from_beginning))


if __name__ == "__main__":
    raise SystemExit(main())
