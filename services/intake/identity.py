"""Encryption of identity data with one key per person, so that erasure is crypto-shredding.

Each person's identity record (normalised personnummer, name, contact details) is sealed with
that person's own AES-256-GCM key. The person key is stored wrapped by the deployment's master
key, in another collection. Destroying the wrapped person key makes every copy of the record,
including those in database backups, unreadable. The participant id is bound into both
encryptions as associated data, so a record or key moved to another participant fails to open.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


@dataclass(frozen=True)
class IdentityRecord:
    personnummer: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


class IdentityUnreadable(Exception):
    """The key is gone (the person was erased) or does not belong to this record."""


class IdentityVault:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the identity master key must be 32 bytes (64 hex characters)")
        self._master = AESGCM(master_key)

    @staticmethod
    def new_person_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def wrap(self, person_key: bytes, participant_id: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._master.encrypt(nonce, person_key, participant_id.encode())

    def unwrap(self, wrapped: bytes, participant_id: str) -> bytes:
        try:
            return self._master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], participant_id.encode())
        except InvalidTag:
            raise IdentityUnreadable("the person key does not open for this participant") from None

    @staticmethod
    def seal(record: IdentityRecord, person_key: bytes, participant_id: str) -> bytes:
        nonce = os.urandom(_NONCE)
        plain = json.dumps(asdict(record), sort_keys=True).encode()
        return nonce + AESGCM(person_key).encrypt(nonce, plain, participant_id.encode())

    @staticmethod
    def open(sealed: bytes, person_key: bytes, participant_id: str) -> IdentityRecord:
        try:
            plain = AESGCM(person_key).decrypt(
                sealed[:_NONCE], sealed[_NONCE:], participant_id.encode()
            )
        except InvalidTag:
            raise IdentityUnreadable("the identity record does not open with this key") from None
        return IdentityRecord(**json.loads(plain))
