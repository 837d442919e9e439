"""Intake's dead letters are sealed while they wait in its outbox: the raw bytes of a bad
referral (a clear personnummer among them) never lie in the database in clear."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from cryptography.exceptions import InvalidTag

from shared.key_custody import LocalKeyring, MasterKeyUnavailable
from shared.outbox_seal import OutboxSeal, open_record, opened, seal_headers

PNR = b"19900517-2344"
DEAD_LETTERS = "insats.intake.dead-letter"
V1 = LocalKeyring({"v1": bytes(32)}, "v1")


def _document(topic: str, value: bytes) -> dict[str, Any]:
    return {"_id": ObjectId(), "topic": topic, "key": b"k", "value": value}


def test_a_dead_letter_is_stored_sealed_and_opens_to_its_original_bytes() -> None:
    seal = OutboxSeal(V1, {DEAD_LETTERS})
    stored = seal.seal(_document(DEAD_LETTERS, b'{"personnummer": "' + PNR + b'"}'))
    assert PNR not in bytes(stored["value"])
    assert opened(seal, stored) == b'{"personnummer": "' + PNR + b'"}'


def test_other_records_are_stored_as_they_are() -> None:
    seal = OutboxSeal(V1, {DEAD_LETTERS})
    document = _document("insats.intake.events", b"an event")
    assert seal.seal(document) is document
    assert opened(None, document) == b"an event"


def test_a_sealed_value_opens_only_for_its_own_record_and_only_with_its_key() -> None:
    seal = OutboxSeal(V1, {DEAD_LETTERS})
    stored = seal.seal(_document(DEAD_LETTERS, PNR))
    with pytest.raises(MasterKeyUnavailable):
        seal.open({**stored, "_id": ObjectId()})
    with pytest.raises(MasterKeyUnavailable):
        OutboxSeal(LocalKeyring({"v1": bytes([1]) * 32}, "v1"), {DEAD_LETTERS}).open(stored)
    with pytest.raises(RuntimeError):
        opened(None, stored)  # parked by the relay, never sent as ciphertext


def test_a_rotation_wraps_the_seal_again_under_the_new_version() -> None:
    stored = OutboxSeal(V1, {DEAD_LETTERS}).seal(_document(DEAD_LETTERS, PNR))
    both = LocalKeyring({"v2": bytes([2]) * 32, "v1": bytes(32)}, "v2")
    rewrapped = OutboxSeal(both, {DEAD_LETTERS}).rewrapped(stored)
    assert rewrapped is not None and rewrapped["key_id"] == "v2"
    only_new = OutboxSeal(LocalKeyring({"v2": bytes([2]) * 32}, "v2"), {DEAD_LETTERS})
    assert opened(only_new, {**stored, "sealed": rewrapped}) == PNR
    assert only_new.rewrapped({**stored, "sealed": rewrapped}) is None
    with pytest.raises(MasterKeyUnavailable):
        only_new.open(stored)


def test_a_dead_letter_read_from_its_topic_opens_only_with_the_master_key() -> None:
    seal = OutboxSeal(V1, {DEAD_LETTERS})
    stored = seal.seal(_document(DEAD_LETTERS, PNR))
    headers = seal_headers(stored)
    value = bytes(stored["value"])

    assert open_record(V1, value, headers) == PNR
    other = LocalKeyring({"v1": bytes(range(32))}, "v1")
    with pytest.raises(MasterKeyUnavailable):
        open_record(other, value, headers)
    # Moved beside another record's seal, it does not open.
    elsewhere = seal_headers(seal.seal(_document(DEAD_LETTERS, b"another")))
    with pytest.raises(InvalidTag):
        open_record(V1, value, elsewhere)
    assert seal_headers(_document("insats.intake.events", b"an event")) == []
