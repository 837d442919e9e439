"""Webhook signing secrets at rest: sealed with AES-256-GCM under a key derived from
INSATS_GATEWAY_SECRET_KEY, so that a copy of the gateway's database (a backup, a dump, a replica
someone was given read access to) does not let its holder sign deliveries as Insats.

The key is derived with HKDF under an info string of its own: the same setting could later key
something else without the two ever sharing a key. The subscription's id and tenant are the
associated data, so a sealed secret copied onto another subscription (another tenant's, say)
does not open there. The version byte in front lets a later scheme sit beside this one.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from shared.contracts.tenants import Tenant

_INFO: Final = b"insats/gateway/webhook-signing-secret/v1"
_VERSION: Final = b"\x01"
_NONCE: Final = 12


class SecretUnreadable(Exception):
    """A sealed secret that does not open: sealed under another key, or altered."""


class SecretBox:
    def __init__(self, key: SecretStr) -> None:
        material = key.get_secret_value().encode()
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
        self._aead = AESGCM(derived)

    def seal(self, secret: str, subscription_id: str, tenant: Tenant) -> bytes:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, secret.encode(), _bound(subscription_id, tenant))
        return _VERSION + nonce + sealed

    def open(self, sealed: bytes, subscription_id: str, tenant: Tenant) -> str:
        if sealed[:1] != _VERSION or len(sealed) <= 1 + _NONCE:
            raise SecretUnreadable("not a sealed secret of this version")
        nonce, ciphertext = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            opened = self._aead.decrypt(nonce, ciphertext, _bound(subscription_id, tenant))
        except InvalidTag:
            raise SecretUnreadable("sealed under another key, or altered") from None
        return opened.decode()


def _bound(subscription_id: str, tenant: Tenant) -> bytes:
    # The version is bound too: a ciphertext cannot be presented as another scheme's.
    return _VERSION + f"{subscription_id}\0{tenant.key}".encode()
