"""Sealing outbox records whose bytes must not lie in the database in clear: intake's dead
letters hold the raw bytes of bad referrals, a clear personnummer among them. The outbox is
written in the batch's transaction, so without a seal the bytes would sit in the collection, the
oplog and every backup until long after the broker's 72-hour retention had deleted them there.

The record is sealed with AES-256-GCM under a key derived from the service's master key, with
the record's id as associated data (a sealed value moved to another record does not open); the
relay opens it just before it hands the bytes to the broker, which keeps them no longer than the
topic's retention.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12
SEALED = "sealed"


class OutboxSeal:
    def __init__(self, master_key: bytes, topics: Collection[str]) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"insats/outbox-seal/v1"
        ).derive(master_key)
        self._aead = AESGCM(key)
        self._topics = frozenset(topics)

    def seal(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document as stored: its value sealed if its topic is one of the sealed ones."""
        if document["topic"] not in self._topics:
            return document
        nonce = os.urandom(_NONCE)
        value = nonce + self._aead.encrypt(nonce, bytes(document["value"]), _bound(document))
        return {**document, "value": value, SEALED: True}

    def open(self, document: dict[str, Any]) -> bytes:
        """A sealed record's bytes as they go to the broker."""
        value = bytes(document["value"])
        return self._aead.decrypt(value[:_NONCE], value[_NONCE:], _bound(document))


def _bound(document: dict[str, Any]) -> bytes:
    return str(document["_id"]).encode()


def opened(seal: OutboxSeal | None, document: dict[str, Any]) -> bytes:
    """A stored record's bytes, opened where the service seals some."""
    if not document.get(SEALED):
        return bytes(document["value"])
    if seal is None:
        raise RuntimeError("a sealed outbox record, and no seal to open it with")
    return seal.open(document)
