"""Random ids for the participants of earlier versions.

Until 3 December 2026 a participant's id was the keyed lookup of their number (an HMAC under
INSATS_PSEUDONYM_KEY): whoever held that key could turn a personnummer into the id and find the
person in every event and every service. `insats identity reissue-legacy-ids` gives each such
participant a random id, one transaction each: intake's records move to it (the identity sealed
again under a new person key bound to the new id), and `insats.participants.merged.v1` with
`reissued: true` tells placement and outcomes, which move theirs as for any merge, and each
municipality of the person's enrolments, whose stream shows the new id from then on. Audited,
since it handles every such person's identity. The old id stays on the topics until their
retention deletes those records, like any id of the past.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.identity import IdentityVault
from services.intake.identity_access import Accessor
from services.intake.person_index import new_participant_id
from services.intake.store import IntakeStore
from shared.contracts.envelope import derive_event_id, new_event
from shared.contracts.intake import ParticipantsMerged
from shared.messaging.consumer import HandlerContext
from shared.persistence import Transaction

SOURCE = "/insats/intake"
BATCH = 200


@dataclass(frozen=True)
class Reissued:
    participants: int


async def reissue_legacy_ids(
    store: IntakeStore,
    vault: IdentityVault,
    who: Accessor,
    dead_letter_topic: str,
    now: datetime,
) -> Reissued:
    who.check()
    done = 0
    after: str | None = None
    while True:
        query: dict[str, Any] = {"_id": {"$gt": after}} if after is not None else {}
        page = [
            doc["_id"]
            for doc in await store.participants.find(query, {"_id": 1})
            .sort("_id", 1)
            .limit(BATCH)
            .to_list()
        ]
        if not page:
            break
        after = page[-1]
        for old in await store.legacy_among(page):
            await reissue_one(store, vault, who, old, dead_letter_topic, now)
            done += 1
    return Reissued(done)


async def reissue_one(
    store: IntakeStore,
    vault: IdentityVault,
    who: Accessor,
    old: str,
    dead_letter_topic: str,
    now: datetime,
) -> None:
    """One participant under a new random id, in one transaction."""

    async def one(tx: Transaction) -> None:
        ctx = HandlerContext(tx=tx, service="intake", dead_letter_topic=dead_letter_topic)
        await _reissue(store, vault, who, old, ctx)

    await store.db.in_transaction(one, now)


async def _reissue(
    store: IntakeStore, vault: IdentityVault, who: Accessor, old: str, ctx: HandlerContext
) -> None:
    new = new_participant_id()
    record = await store.reissue(old, new, vault, ctx.now, ctx.session)
    if record is None:
        return
    await store.write_audit(
        {
            "at": ctx.now,
            "action": "reissue_participant_id",
            "actor": who.actor,
            "reason": who.reason,
            # The new id only: the old one is the lookup of the person's number.
            "participant_id": new,
        },
        ctx.session,
    )
    municipalities: list[str] = sorted(
        {str(e["municipality"]) for e in record.get("enrolments", []) if e.get("municipality")}
    )
    request_id = f"reissue-{ctx.now.date().isoformat()}"
    # Once per municipality, so that each one's stream says which of its ids the new one is;
    # placement and outcomes find nothing left to move the second time.
    audiences: list[str | None] = [*municipalities] or [None]
    for municipality in audiences:
        ctx.emit(
            new_event(
                ParticipantsMerged(
                    participant_id=new,
                    merged_participant_id=old,
                    request_id=request_id,
                    merged_on=ctx.now.date(),
                    reissued=True,
                ),
                source=SOURCE,
                municipality=municipality,
                time=ctx.now,
                event_id=derive_event_id(new, f"reissued/{municipality}"),
            )
        )
