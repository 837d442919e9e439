"""Sealing outbox records whose bytes must not lie in the database in clear: intake's dead
letters hold the raw bytes of bad referrals, a clear personnummer among them. The outbox is
written in the batch's transaction, so without a seal the bytes would sit in the collection, the
oplog and every backup until long after the broker's 72-hour retention had deleted them there.

Each record is sealed with AES-256-GCM under a key of its own, which is wrapped by the master key
(shared/key_custody.py) and stored beside it with the version that wrapped it; the record's id is
associated data of both (a sealed value moved to another record does not open). The relay opens
it just before it hands the bytes to the broker, which keeps them no longer than the topic's
retention.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.key_custody import MasterKeys, Wrapped

_NONCE = 12
SEALED = "sealed"


class OutboxSeal:
    def __init__(self, master: MasterKeys, topics: Collection[str]) -> None:
        self._master = master
        self._topics = frozenset(topics)

    def seal(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document as stored: its value sealed if its topic is one of the sealed ones."""
        if document["topic"] not in self._topics:
            return document
        bound = _bound(document)
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        value = nonce + AESGCM(key).encrypt(nonce, bytes(document["value"]), bound)
        wrapped = self._master.wrap(key, bound)
        return {**document, "value": value, SEALED: {"key_id": wrapped.key_id, "key": wrapped.blob}}

    def open(self, document: dict[str, Any]) -> bytes:
        """A sealed record's bytes as they go to the broker."""
        bound = _bound(document)
        seal = document[SEALED]
        key = self._master.unwrap(Wrapped(str(seal["key_id"]), bytes(seal["key"])), bound)
        value = bytes(document["value"])
        return AESGCM(key).decrypt(value[:_NONCE], value[_NONCE:], bound)

    def rewrapped(self, document: dict[str, Any]) -> dict[str, Any] | None:
        """The seal of a stored record wrapped again under the current master key version, or
        None if it already is (rotation, shared/key_custody.py)."""
        seal = document.get(SEALED)
        if not isinstance(seal, dict) or seal.get("key_id") == self._master.current_id:
            return None
        bound = _bound(document)
        key = self._master.unwrap(Wrapped(str(seal["key_id"]), bytes(seal["key"])), bound)
        wrapped = self._master.wrap(key, bound)
        return {"key_id": wrapped.key_id, "key": wrapped.blob}


def _bound(document: dict[str, Any]) -> bytes:
    return str(document["_id"]).encode()


def opened(seal: OutboxSeal | None, document: dict[str, Any]) -> bytes:
    """A stored record's bytes, opened where the service seals some."""
    if not document.get(SEALED):
        return bytes(document["value"])
    if seal is None:
        raise RuntimeError("a sealed outbox record, and no seal to open it with")
    return seal.open(document)
