"""Sealing outbox records whose bytes must not lie in the database in clear: intake's dead
letters hold the raw bytes of bad referrals, a clear personnummer among them. The outbox is
written in the batch's transaction, so without a seal the bytes would sit in the collection, the
oplog and every backup until long after the broker's 72-hour retention had deleted them there.

Each record is sealed with AES-256-GCM under a key of its own, which is wrapped by the master key
(shared/key_custody.py) and stored beside it with the version that wrapped it; the record's id is
associated data of both (a sealed value moved to another record does not open).

The record goes to its topic sealed as well, the wrapped key and the id beside it in headers
(`insats-seal-*`), so the bytes lie in clear nowhere: not in the database, not on the broker's
disks. Only who holds the master key opens them: `insats dlq show` and `replay`, audited
(`open_record`). A letter on the topic stays sealed under the version that was current when it
was written: keep a retired version until the topic's retention has passed after the rotation.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.key_custody import MasterKeys, Wrapped

_NONCE = 12
SEALED = "sealed"
H_SEAL_ID = "insats-seal-id"
H_SEAL_KEY_ID = "insats-seal-key-id"
H_SEAL_KEY = "insats-seal-key"
SEAL_HEADERS = frozenset({H_SEAL_ID, H_SEAL_KEY_ID, H_SEAL_KEY})


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


def seal_headers(document: dict[str, Any]) -> list[tuple[str, bytes]]:
    """What a reader of the topic needs, beside the master key, to open a sealed record's
    value: the id it is bound to and its wrapped key. None for a record not sealed."""
    seal = document.get(SEALED)
    if not isinstance(seal, dict):
        return []
    return [
        (H_SEAL_ID, _bound(document)),
        (H_SEAL_KEY_ID, str(seal["key_id"]).encode()),
        (H_SEAL_KEY, bytes(seal["key"])),
    ]


def is_sealed(headers: Iterable[tuple[str, bytes]]) -> bool:
    return any(name == H_SEAL_KEY for name, _ in headers)


def open_record(master: MasterKeys, value: bytes, headers: Iterable[tuple[str, bytes]]) -> bytes:
    """A sealed record's original bytes, as read from its topic."""
    found = {name: bytes(content) for name, content in headers if name in SEAL_HEADERS}
    if set(found) != SEAL_HEADERS:
        raise ValueError("not a sealed record")
    bound = found[H_SEAL_ID]
    key = master.unwrap(Wrapped(found[H_SEAL_KEY_ID].decode(), found[H_SEAL_KEY]), bound)
    return AESGCM(key).decrypt(value[:_NONCE], value[_NONCE:], bound)


def _bound(document: dict[str, Any]) -> bytes:
    return str(document["_id"]).encode()


def opened(seal: OutboxSeal | None, document: dict[str, Any]) -> bytes:
    """A stored record's bytes, opened where the service seals some."""
    if not document.get(SEALED):
        return bytes(document["value"])
    if seal is None:
        raise RuntimeError("a sealed outbox record, and no seal to open it with")
    return seal.open(document)
