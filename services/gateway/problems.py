"""What the gateway answers when it does not accept a request: a reason code to branch on (the
same codes as the events' answers where they mean the same), and the text in English and
Swedish. Never the input's values: a body may hold a personnummer."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import BaseModel, Field


class GatewayRefusal(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    # The tenant's kind does not publish this (a partner defining a programme).
    NOT_ALLOWED = "NOT_ALLOWED"
    IDEMPOTENCY_KEY_MISSING = "IDEMPOTENCY_KEY_MISSING"
    # The key was used before for a different request.
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INVALID_JSON = "INVALID_JSON"
    # A CSV file that cannot be read as a whole (its rows are answered one by one).
    INVALID_CSV = "INVALID_CSV"
    SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    # The broker or the identity provider cannot be reached: try again, with the same key.
    UNAVAILABLE = "UNAVAILABLE"
    # As many of a kind (webhook subscriptions) as an organisation may have: delete one first.
    LIMIT_REACHED = "LIMIT_REACHED"
    # The deployment does not offer it (webhooks without INSATS_GATEWAY_SECRET_KEY).
    NOT_CONFIGURED = "NOT_CONFIGURED"


TEXTS: Final[dict[GatewayRefusal, tuple[str, str]]] = {
    GatewayRefusal.UNAUTHENTICATED: (
        "A valid bearer token from the identity provider is needed.",
        "En giltig åtkomsttoken från identitetsleverantören krävs.",
    ),
    GatewayRefusal.NOT_ALLOWED: (
        "Your organisation does not publish this kind of request.",
        "Er organisation skickar inte den här typen av uppgift.",
    ),
    GatewayRefusal.IDEMPOTENCY_KEY_MISSING: (
        "Give an Idempotency-Key header (1-128 printable ASCII characters) unique per request.",
        "Ange rubriken Idempotency-Key (1-128 skrivbara ASCII-tecken), unik per förfrågan.",
    ),
    GatewayRefusal.IDEMPOTENCY_KEY_REUSED: (
        "This Idempotency-Key was used before for a different request.",
        "Denna Idempotency-Key har redan använts för en annan förfrågan.",
    ),
    GatewayRefusal.PAYLOAD_TOO_LARGE: (
        "The request body is larger than the gateway accepts.",
        "Förfrågan är större än vad gränssnittet tar emot.",
    ),
    GatewayRefusal.UNSUPPORTED_MEDIA_TYPE: (
        "Send the body as application/json.",
        "Skicka innehållet som application/json.",
    ),
    GatewayRefusal.INVALID_JSON: (
        "The body is not valid JSON.",
        "Innehållet är inte giltig JSON.",
    ),
    GatewayRefusal.INVALID_CSV: (
        "The file cannot be read as CSV with the documented columns: see errors.",
        "Filen går inte att läsa som CSV med de beskrivna kolumnerna: se errors.",
    ),
    GatewayRefusal.SCHEMA_VIOLATION: (
        "The body does not follow the contract: see errors.",
        "Innehållet följer inte kontraktet: se errors.",
    ),
    GatewayRefusal.NOT_FOUND: ("No such resource.", "Det finns ingen sådan resurs."),
    GatewayRefusal.METHOD_NOT_ALLOWED: (
        "This method is not allowed here.",
        "Metoden är inte tillåten här.",
    ),
    GatewayRefusal.UNAVAILABLE: (
        "Insats cannot take the request now: try again with the same Idempotency-Key.",
        "Insats kan inte ta emot förfrågan just nu: försök igen med samma Idempotency-Key.",
    ),
    GatewayRefusal.LIMIT_REACHED: (
        "Your organisation has as many of these as it may: delete one first.",
        "Er organisation har redan så många av dessa som den får ha: ta bort en först.",
    ),
    GatewayRefusal.NOT_CONFIGURED: (
        "This deployment of Insats does not offer this now: ask its operator.",
        "Den här installationen av Insats erbjuder inte detta just nu: fråga dess driftansvariga.",
    ),
}


class FieldError(BaseModel):
    location: str = Field(max_length=500, description="Where in the body: data.birth_date.")
    message: str = Field(max_length=500)


class Problem(BaseModel):
    reason: GatewayRefusal
    message: str
    message_sv: str
    errors: list[FieldError] = Field(default_factory=list)

    @classmethod
    def of(cls, reason: GatewayRefusal, errors: list[FieldError] | None = None) -> Problem:
        english, swedish = TEXTS[reason]
        return cls(reason=reason, message=english, message_sv=swedish, errors=errors or [])
