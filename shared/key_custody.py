"""The master key that wraps each person's key (and the seals on intake's waiting dead letters):
versioned, rotated, and pluggable.

`MasterKeys` is the whole interface intake needs from a key manager: wrap a small secret under
the current version, and unwrap one under the version it names. `LocalKeyring` implements it with
AES-256-GCM keys given in configuration; a deployment that keeps its master key in Vault's
transit engine or a cloud KMS implements the same five members over that service (Vault's
transit `encrypt`/`decrypt` with key versions is the same shape: the ciphertext names its
version, and `rewrap` is rotation).

Rotation is two steps apart in time: a new version becomes current and every person key is
wrapped again under it (`insats identity rotate-master-key`); later, once every backup of the key
store taken before the rotation has expired, the old version is destroyed (removed from the
keyring). Destroying a version is what makes an erasure reach old backups of the key store: a
person key erased from the live store but kept in such a backup is wrapped by a version that no
longer exists.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12
# Keys wrapped before master keys had versions name none: they are under this one.
UNVERSIONED = "v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


class MasterKeyUnavailable(Exception):
    """The version a secret is wrapped under is not in the keyring (destroyed), or the secret
    does not open under it."""


@dataclass(frozen=True)
class Wrapped:
    key_id: str
    blob: bytes


class MasterKeys(Protocol):
    @property
    def current_id(self) -> str: ...

    def has_version(self, key_id: str) -> bool: ...

    def wrap(self, secret: bytes, context: bytes) -> Wrapped: ...

    def unwrap(self, wrapped: Wrapped, context: bytes) -> bytes: ...

    def tags(self, data: bytes) -> list[str]:
        """Keyed tags of `data` under every version held, the current one first: a handle that
        finds a record without naming what it is of, and that no one can compute once the
        version is destroyed."""
        ...


class LocalKeyring:
    """Master key versions held in the service's own configuration (a Kubernetes secret)."""

    def __init__(self, versions: dict[str, bytes], current: str) -> None:
        if current not in versions:
            raise ValueError(f"the current master key version {current} is not in the keyring")
        for key_id, key in versions.items():
            if not _KEY_ID.match(key_id):
                raise ValueError(
                    f"master key version {key_id[:40]!r}: name versions with A-Z a-z 0-9 . _ -"
                )
            if len(key) != 32:
                raise ValueError("the identity master key must be 32 bytes (64 hex characters)")
        self._versions = {key_id: AESGCM(key) for key_id, key in versions.items()}
        self._tag_keys = {
            key_id: HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"insats/tag/v1"
            ).derive(key)
            for key_id, key in versions.items()
        }
        self._current = current

    @property
    def current_id(self) -> str:
        return self._current

    def has_version(self, key_id: str) -> bool:
        return key_id in self._versions

    def wrap(self, secret: bytes, context: bytes) -> Wrapped:
        nonce = os.urandom(_NONCE)
        blob = nonce + self._versions[self._current].encrypt(nonce, secret, context)
        return Wrapped(self._current, blob)

    def unwrap(self, wrapped: Wrapped, context: bytes) -> bytes:
        version = self._versions.get(wrapped.key_id)
        if version is None:
            raise MasterKeyUnavailable(f"master key version {wrapped.key_id} is not in the keyring")
        try:
            return version.decrypt(wrapped.blob[:_NONCE], wrapped.blob[_NONCE:], context)
        except InvalidTag:
            raise MasterKeyUnavailable("the secret does not open under its master key") from None

    def tags(self, data: bytes) -> list[str]:
        order = [self._current, *(k for k in self._tag_keys if k != self._current)]
        return [
            f"{key_id}:{hmac.new(self._tag_keys[key_id], data, hashlib.sha256).hexdigest()}"
            for key_id in order
        ]


def parse_keyring(value: str) -> LocalKeyring:
    """INSATS_IDENTITY_MASTER_KEY: either 64 hex characters (one version, v1), or versions as
    `id:hex` separated by commas, the current one first (`v2:<hex>,v1:<hex>`)."""
    entries = [part.strip() for part in value.split(",") if part.strip()]
    if not entries:
        raise ValueError("the identity master key is empty")
    versions: dict[str, bytes] = {}
    for entry in entries:
        key_id, sep, hex_key = entry.rpartition(":")
        if not sep:
            key_id = UNVERSIONED
        if key_id in versions:
            raise ValueError(f"master key version {key_id} is given twice")
        try:
            versions[key_id] = bytes.fromhex(hex_key)
        except ValueError:
            raise ValueError(f"master key version {key_id} is not hexadecimal") from None
    current = next(iter(versions))
    return LocalKeyring(versions, current)
