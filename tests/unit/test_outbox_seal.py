"""Intake's dead letters are sealed while they wait in its outbox: the raw bytes of a bad
referral (a clear personnummer among them) never lie in the database in clear."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from cryptography.exceptions import InvalidTag

from shared.outbox_seal import OutboxSeal, opened

PNR = b"19900517-2344"
DEAD_LETTERS = "insats.intake.dead-letter"


def _document(topic: str, value: bytes) -> dict[str, Any]:
    return {"_id": ObjectId(), "topic": topic, "key": b"k", "value": value}


def test_a_dead_letter_is_stored_sealed_and_opens_to_its_original_bytes() -> None:
    seal = OutboxSeal(bytes(32), {DEAD_LETTERS})
    stored = seal.seal(_document(DEAD_LETTERS, b'{"personnummer": "' + PNR + b'"}'))
    assert PNR not in bytes(stored["value"])
    assert opened(seal, stored) == b'{"personnummer": "' + PNR + b'"}'


def test_other_records_are_stored_as_they_are() -> None:
    seal = OutboxSeal(bytes(32), {DEAD_LETTERS})
    document = _document("insats.intake.events", b"an event")
    assert seal.seal(document) is document
    assert opened(None, document) == b"an event"


def test_a_sealed_value_opens_only_for_its_own_record_and_only_with_its_key() -> None:
    seal = OutboxSeal(bytes(32), {DEAD_LETTERS})
    stored = seal.seal(_document(DEAD_LETTERS, PNR))
    with pytest.raises(InvalidTag):
        seal.open({**stored, "_id": ObjectId()})
    with pytest.raises(InvalidTag):
        OutboxSeal(bytes([1]) * 32, {DEAD_LETTERS}).open(stored)
    with pytest.raises(RuntimeError):
        opened(None, stored)  # parked by the relay, never sent as ciphertext
