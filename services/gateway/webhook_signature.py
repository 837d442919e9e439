"""How a webhook receiver knows a delivery is from Insats and unaltered: the header
`Insats-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`.

The timestamp is signed with the body, so a recorded delivery cannot be replayed later with a
fresh time: a receiver refuses one whose `t` is too far from its clock. `v1` names the scheme,
so another can be added beside it without breaking receivers. The same code verifies in the
tests, as docs/gateway-outbound.md shows a receiver how to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

SIGNATURE_HEADER: Final = "Insats-Signature"
EVENT_ID_HEADER: Final = "Insats-Event-Id"
ATTEMPT_HEADER: Final = "Insats-Delivery-Attempt"
_SCHEME: Final = "v1"


def new_secret() -> str:
    """A subscription's signing secret: 256 random bits, shown to its tenant once."""
    return f"whsec_{secrets.token_urlsafe(32)}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},{_SCHEME}={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_seconds: int = 300) -> bool:
    """Whether `header` signs `body` under `secret`, at a time within the tolerance of `now`."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body).rpartition("=")[2]
    return any(hmac.compare_digest(expected, given) for given in parts.get(_SCHEME, []))
