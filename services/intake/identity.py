"""Encryption of identity data with one key per person, so that erasure is crypto-shredding.

Each person's identity record (normalised personnummer, name, contact details) is sealed with
that person's own AES-256-GCM key. The person key is stored wrapped by the deployment's master
key (key_custody.py), in a database of its own with its own backups. Destroying the wrapped
person key makes every copy of the record in intake's database and its backups unreadable; the
key store's own backups follow when the master key version that wrapped it is destroyed. The
participant id is bound into both encryptions as associated data, so a record or key moved to
another participant fails to open.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.key_custody import MasterKeys, MasterKeyUnavailable, Wrapped, parse_keyring
from shared.settings import Settings

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
    def __init__(self, master: MasterKeys) -> None:
        self.master = master

    @staticmethod
    def new_person_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def wrap(self, person_key: bytes, participant_id: str) -> Wrapped:
        return self.master.wrap(person_key, participant_id.encode())

    def unwrap(self, wrapped: Wrapped, participant_id: str) -> bytes:
        try:
            return self.master.unwrap(wrapped, participant_id.encode())
        except MasterKeyUnavailable as problem:
            raise IdentityUnreadable(f"the person key does not open: {problem}") from None

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


def vault_of(settings: Settings) -> IdentityVault | None:
    """The vault the configured master key opens, or None where none is configured."""
    if settings.identity_master_key is None:
        return None
    return IdentityVault(parse_keyring(settings.identity_master_key.get_secret_value()))
