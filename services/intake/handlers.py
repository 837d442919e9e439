"""Intake's use cases: load what the rules need, decide, save decisions and events together."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from services.intake import domain
from services.intake.personnummer import Personnummer
from services.intake.store import IntakeStore
from shared.contracts.envelope import derive_event_id, new_event
from shared.contracts.intake import ReferralRejected
from shared.contracts.municipal import ProgrammeDefined, ReferralReceived
from shared.contracts.registry import UnreadableEvent
from shared.contracts.vocabulary import RejectionReason
from shared.messaging.consumer import HandlerContext
from shared.messaging.records import InboundRecord, Received
from shared.observability import get_logger

SOURCE = "/insats/intake"
log = get_logger(__name__)

_UNREADABLE_MESSAGES = {
    "INVALID_JSON": ("The message is not valid JSON.", "Meddelandet är inte giltig JSON."),
    "UNKNOWN_EVENT_TYPE": (
        "The message is not a referral event.",
        "Meddelandet är inte en remisshändelse.",
    ),
    "SCHEMA_VIOLATION": (
        "The referral does not follow the schema",
        "Remissen följer inte schemat",
    ),
}


class IntakeHandlers:
    def __init__(self, store: IntakeStore, pseudonym_key: bytes, municipalities: Collection[str]):
        self.store = store
        self.pseudonym = domain.pseudonymiser(pseudonym_key)
        self.municipalities = municipalities

    async def on_programmes(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        # Later definitions of the same programme win: keep the last of each in the batch.
        latest: dict[str, ProgrammeDefined] = {}
        for item in batch:
            definition: ProgrammeDefined = item.event.data
            latest[definition.programme_id] = definition
        await self.store.save_programmes(latest.values(), ctx.session)

    async def on_referrals(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        referrals: list[ReferralReceived] = [item.event.data for item in batch]
        people = [domain.identify(referral) for referral in referrals]
        pseudonyms = {
            index: self.pseudonym(person)
            for index, person in enumerate(people)
            if isinstance(person, Personnummer)
        }
        programmes = await self.store.load_programmes(
            (referral.programme_id for referral in referrals), ctx.session
        )
        enrolled = await self.store.enrolled_programmes(pseudonyms.values(), ctx.session)

        enrolments = []
        decisions: list[dict[str, Any]] = []
        for index, (item, referral, person) in enumerate(
            zip(batch, referrals, people, strict=True)
        ):
            if isinstance(person, domain.Rejection):
                decision: domain.Decision = person
            else:
                participant_id = pseudonyms[index]
                decision = domain.decide(
                    referral,
                    person,
                    participant_id,
                    programmes.get(referral.programme_id),
                    self.municipalities,
                    enrolled.get(participant_id, set()),
                )
            record = {
                "_id": f"{referral.municipality}:{referral.referral_id}",
                "referral_id": referral.referral_id,
                "programme_id": referral.programme_id,
                "municipality": referral.municipality,
                "received_at": item.event.time,
            }
            if isinstance(decision, domain.Enrolment):
                participant = decision.participant
                enrolled.setdefault(participant.participant_id, set()).add(participant.programme_id)
                enrolments.append(participant)
                decisions.append(
                    {**record, "decision": "enrolled", "participant_id": participant.participant_id}
                )
                ctx.emit(
                    new_event(
                        participant,
                        source=SOURCE,
                        municipality=referral.municipality,
                        cause=item.event,
                    )
                )
                log.info(
                    "referral enrolled",
                    event_id=str(item.event.id),
                    municipality=referral.municipality,
                    programme=referral.programme_id,
                )
            else:
                decisions.append(
                    {
                        **record,
                        "decision": "rejected",
                        "reason": decision.reason.value,
                        "rule": decision.rule,
                    }
                )
                self._reject(item, referral, decision, ctx)
        await self.store.record(enrolments, decisions, ctx.now, ctx.session)

    def _reject(
        self,
        item: Received,
        referral: ReferralReceived,
        rejection: domain.Rejection,
        ctx: HandlerContext,
    ) -> None:
        event = ReferralRejected(
            referral_id=referral.referral_id,
            programme_id=referral.programme_id,
            municipality=referral.municipality,
            reason=rejection.reason,
            rule=rejection.rule,
            message=rejection.message,
            message_sv=rejection.message_sv,
            received_at=item.event.time,
        )
        ctx.emit(
            new_event(event, source=SOURCE, municipality=referral.municipality, cause=item.event)
        )
        if rejection.reason in domain.BAD_INPUT:
            ctx.reject(item, rejection.reason.value, rejection.message)
        else:
            log.info(
                "referral not eligible",
                event_id=str(item.event.id),
                reason=rejection.reason.value,
                rule=rejection.rule,
                municipality=referral.municipality,
            )

    async def on_unreadable_referral(
        self, record: InboundRecord, error: UnreadableEvent, ctx: HandlerContext
    ) -> None:
        """A malformed referral still gets an answer the sending system can match on."""
        referral_id, municipality = _salvage_identifiers(record)
        english, swedish = _UNREADABLE_MESSAGES.get(
            error.code, _UNREADABLE_MESSAGES["SCHEMA_VIOLATION"]
        )
        detail = f": {error.reason}" if error.code == "SCHEMA_VIOLATION" else ""
        event = ReferralRejected(
            referral_id=referral_id,
            municipality=municipality,
            reason=RejectionReason(error.code),
            message=f"{english}{detail}",
            message_sv=f"{swedish}{detail}",
            received_at=ctx.now,
        )
        ctx.emit(
            new_event(
                event,
                source=SOURCE,
                municipality=municipality,
                time=ctx.now,
                event_id=derive_event_id(record.coordinates, ReferralRejected.TYPE),
            )
        )


def _salvage_identifiers(record: InboundRecord) -> tuple[str, str | None]:
    """The referral id and municipality, if the broken message still shows them."""
    fallback = record.key.decode(errors="replace") if record.key else record.coordinates
    try:
        document = json.loads(record.value)
        data = document.get("data", {}) if isinstance(document, dict) else {}
    except (ValueError, AttributeError):
        return fallback, None
    referral_id = data.get("referral_id") if isinstance(data, dict) else None
    municipality = data.get("municipality") if isinstance(data, dict) else None
    if not (isinstance(referral_id, str) and referral_id.strip()):
        referral_id = fallback
    if not (isinstance(municipality, str) and len(municipality) == 4 and municipality.isdigit()):
        municipality = None
    return referral_id, municipality
