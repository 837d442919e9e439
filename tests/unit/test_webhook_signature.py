"""The webhook signature scheme: what the deliverer signs, the documented receiver's snippet
accepts, and nothing altered, re-signed with another secret or replayed late passes."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from services.gateway.webhook_signature import new_secret, signature, verify

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateway-outbound.md"
BODY = b'{"specversion":"1.0","id":"6b1c0f9e-2f55-5d6e-9a51-0a3f1f3e7c21","data":{"x":"\xc3\xa5"}}'


@pytest.fixture(scope="module")
def documented_verify() -> Callable[[str, str, bytes], bool]:
    """The receiver's snippet of docs/gateway-outbound.md, run as a receiver would copy it."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    [snippet] = [block for block in blocks if "def verify_insats_signature" in block]
    namespace: dict[str, object] = {}
    exec(snippet, namespace)
    found = namespace["verify_insats_signature"]
    assert callable(found)
    return found


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_under_the_secret() -> None:
    expected = hmac.new(b"whsec_k", b"1700000000." + BODY, hashlib.sha256).hexdigest()

    assert signature("whsec_k", 1_700_000_000, BODY) == f"t=1700000000,v1={expected}"


def test_a_delivery_signed_now_passes_the_documented_receiver_check(
    documented_verify: Callable[[str, str, bytes], bool],
) -> None:
    secret = new_secret()
    header = signature(secret, int(time.time()), BODY)

    assert documented_verify(secret, header, BODY)
    assert verify(secret, header, BODY, now=int(time.time()))


@pytest.mark.parametrize(
    ("what", "secret", "body", "age"),
    [
        ("the body altered", "whsec_k", BODY.replace(b"x", b"y"), 0),
        ("another secret", "whsec_other", BODY, 0),
        ("replayed after the tolerance", "whsec_k", BODY, 301),
    ],
)
def test_an_altered_foreign_or_late_delivery_is_refused(
    documented_verify: Callable[[str, str, bytes], bool],
    what: str,
    secret: str,
    body: bytes,
    age: int,
) -> None:
    header = signature("whsec_k", int(time.time()) - age, BODY)

    assert not documented_verify(secret, header, body), what
    assert not verify(secret, header, body, now=int(time.time())), what


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=,v1=abc", "t=12a,v1=abc", "t=1,t=2,v1=abc", "garbage"],
)
def test_a_malformed_header_is_refused_not_an_error(
    documented_verify: Callable[[str, str, bytes], bool], header: str
) -> None:
    assert not documented_verify("whsec_k", header, BODY)
    assert not verify("whsec_k", header, BODY, now=int(time.time()))


def test_one_matching_v1_among_several_is_enough_while_a_secret_is_replaced(
    documented_verify: Callable[[str, str, bytes], bool],
) -> None:
    now = int(time.time())
    mine = signature("whsec_new", now, BODY)
    header = f"{mine},v1={'0' * 64}"

    assert documented_verify("whsec_new", header, BODY)
    assert verify("whsec_new", header, BODY, now=now)


def test_secrets_are_long_random_and_distinct() -> None:
    secrets = {new_secret() for _ in range(100)}

    assert len(secrets) == 100
    assert all(s.startswith("whsec_") and len(s) >= 40 for s in secrets)
