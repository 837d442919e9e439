"""Per-audience pseudonyms: each partner and each municipality sees a participant under an id of
its own, so that two partners who meet the same person cannot join their streams on it, nor a
partner its stream with a municipality's.

The id an audience sees is the participant id (16 random bytes, `p-` and 32 hex digits)
encrypted as one AES-256 block under a key derived from INSATS_AUDIENCE_KEY and the audience's
name: a permutation, so the deployment turns an id a partner or municipality sends back into
the participant it names, and no one without the key can turn one audience's id into
another's. An id that is not in that form (only hand-made ones, as in tests) is shown as a keyed
hash, which the deployment cannot turn back.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache
from typing import Any, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.contracts.envelope import Envelope, EventData
from shared.contracts.scoped import ResidentEvent
from shared.contracts.tenants import Tenant, TenantKind
from shared.settings import Settings

_PARTICIPANT = re.compile(r"^p-([0-9a-f]{32})$")
_SHOWN = re.compile(r"^a-([0-9a-f]{32})$")


def municipality(kommunkod: str) -> str:
    return f"municipality:{kommunkod}"


def partner(partner_id: str) -> str:
    return f"partner:{partner_id}"


class AudiencePseudonyms:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the audience key must be at least 16 bytes")
        self._key = key

    @lru_cache(maxsize=4096)  # noqa: B019 - one instance per process, few audiences
    def _audience_key(self, audience: str) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"insats/audience/v1/" + audience.encode(),
        ).derive(self._key)

    def shown(self, audience: str, participant_id: str) -> str:
        """The id `audience` sees for the participant."""
        key = self._audience_key(audience)
        match = _PARTICIPANT.match(participant_id)
        if match is None:
            digest = hmac.new(key, participant_id.encode(), hashlib.sha256).hexdigest()
            return f"h-{digest[:32]}"
        # One block of random bytes, deterministic on purpose: the raw block cipher is the
        # keyed permutation wanted, and no mode (nor an IV) belongs to it.
        encryptor = Cipher(algorithms.AES256(key), modes.ECB()).encryptor()  # noqa: S305
        block = encryptor.update(bytes.fromhex(match.group(1))) + encryptor.finalize()
        return f"a-{block.hex()}"

    def participant(self, audience: str, given: str) -> str:
        """The participant an id sent by `audience` names: one its stream showed it is turned
        back; any other id is taken as it is (a participant id from before per-audience ids),
        and names a participant only if one has it."""
        match = _SHOWN.match(given)
        if match is None:
            return given
        key = algorithms.AES256(self._audience_key(audience))
        decryptor = Cipher(key, modes.ECB()).decryptor()  # noqa: S305 - one block, as in shown
        block = decryptor.update(bytes.fromhex(match.group(1))) + decryptor.finalize()
        return f"p-{block.hex()}"


def pseudonyms_of(settings: Settings) -> AudiencePseudonyms:
    if settings.audience_key is None:
        raise SystemExit(
            "INSATS_AUDIENCE_KEY must be set: it keys the ids partners and municipalities see"
        )
    return _pseudonyms(settings.audience_key.get_secret_value())


@lru_cache(maxsize=4)
def _pseudonyms(key: str) -> AudiencePseudonyms:
    return AudiencePseudonyms(key.encode())


_Data = TypeVar("_Data", bound=EventData)

_ID_FACTS = frozenset({"participant_id", "merged_participant_id"})


def audience_view(view: ResidentEvent, pseudonyms: AudiencePseudonyms) -> ResidentEvent:
    """The view as its municipality sees it: every participant id in it its own."""
    audience = municipality(view.municipality)

    def own(value: Any) -> Any:
        return pseudonyms.shown(audience, value) if isinstance(value, str) else value

    facts = {key: own(value) if key in _ID_FACTS else value for key, value in view.facts.items()}
    subject = view.subject_id
    if _PARTICIPANT.match(subject):
        subject = pseudonyms.shown(audience, subject)
    return view.model_copy(update={"facts": facts, "subject_id": subject})


def inbound_ids(
    event: Envelope[Any], tenant: Tenant, pseudonyms: AudiencePseudonyms
) -> Envelope[Any]:
    """An event a tenant sent, naming the participant by the id the tenant's own stream shows:
    a municipality's or partner's own, or for a programme owner the participant's home
    municipality's (as the owner's municipalities pass it on)."""
    data = event.data
    given = getattr(data, "participant_id", None)
    if not isinstance(given, str):
        return event
    if tenant.kind is TenantKind.MUNICIPALITY:
        seen_by = municipality(tenant.id)
    elif tenant.kind is TenantKind.PARTNER:
        seen_by = partner(tenant.id)
    elif isinstance(home := getattr(data, "municipality", None), str):
        seen_by = municipality(home)
    else:
        return event
    resolved = pseudonyms.participant(seen_by, given)
    if resolved == given:
        return event
    return event.model_copy(update={"data": data.model_copy(update={"participant_id": resolved})})


def for_partner(data: _Data, pseudonyms: AudiencePseudonyms) -> _Data:
    """An event for a partner's own stream, with the participant (where it names one) under the
    partner's own id for them."""
    given = getattr(data, "participant_id", None)
    if not isinstance(given, str):
        return data
    shown = pseudonyms.shown(partner(data.partner_id), given)  # type: ignore[attr-defined]
    return data.model_copy(update={"participant_id": shown})
