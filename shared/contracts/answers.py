"""The answer to an input Insats did not apply, on the stream of the tenant that sent it.

Referrals have their own answer (insats.referral.rejected.v1/v2 on the municipality's stream).
Everything else a tenant publishes — a consent, an erasure request, a programme, a partner, an
agreement, a follow-up answer, a partner's report — is answered with insats.input.rejected.v1
when it is refused: unreadable, outside the contract, or a claim the tenant may not make. The
answer names the input by its event id (when it could be read) and by where it was on the
broker, and never repeats what the input said.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.contracts import topics
from shared.contracts.envelope import EventData
from shared.contracts.vocabulary import Identifier, InputRefusal


class InputRejected(EventData):
    TYPE = "insats.input.rejected.v1"
    # Published to the sender's own stream: insats.municipality.<kommunkod>.events,
    # insats.partner.<partner_id>.placements or insats.owner.<owner_id>.events.
    TOPIC = topics.TENANT_STREAM_TEMPLATE

    origin: Identifier = Field(description="topic:partition:offset of the input on the broker.")
    input_id: Identifier | None = Field(
        default=None, description="The input's event id, when the input could be read."
    )
    input_type: Identifier | None = Field(
        default=None, description="The input's event type, when the input could be read."
    )
    tenant: Identifier = Field(description="Who sent it, as the topic says: municipality:1384.")
    reason: InputRefusal = Field(description="Machine-readable: act on this, not on the text.")
    message: str = Field(max_length=2_000, description="What was wrong, in English.")
    message_sv: str = Field(max_length=2_000, description="What was wrong, in Swedish.")
    received_at: datetime

    def subject(self) -> str:
        return self.input_id or self.origin
