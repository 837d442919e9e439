"""A participant given a new random id (`insats identity reissue-legacy-ids`) is the same person
in every service: placement's and outcomes' records move to the new id, the figures stay the
same, and the old id is kept only as outcomes' short-lived redirect. The three services run as
processes on the real broker and database; the reissue is intake's own, run beside them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from scripts.harness import Platform, wait_settled
from services.intake.identity import IdentityVault
from services.intake.identity_access import Accessor
from services.intake.personnummer import format_with_check
from services.intake.reissue import reissue_one
from services.intake.store import IntakeStore
from shared.contracts import topics
from shared.key_custody import parse_keyring
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings
from tests.e2e.test_erasure_across_services import _everything_stored, _indicators, _walk_through
from tests.support import event, events_on, municipality_sees, publish
from tests.unit.factories import agreement, programme


async def test_a_reissued_participant_is_the_same_person_in_every_service(
    platform_at_year_end: Platform, env: dict[str, str], settings: Settings
) -> None:
    await publish(settings, event(programme(capacity=10)), event(agreement(places=10)))
    await wait_settled(settings)
    old = await _walk_through(settings, 1, format_with_check(date(1984, 6, 7), 411))
    await _walk_through(settings, 2, format_with_check(date(1990, 2, 2), 422))
    before = await _indicators(settings)

    master = parse_keyring(env["INSATS_IDENTITY_MASTER_KEY"])
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"), master)
        who = Accessor("Kim Drift, operatör", "Ärende 2026-131: slumpade id")
        dead_letters = settings.topic(topics.dead_letter_topic("intake"))
        await reissue_one(store, IdentityVault(master), who, old, dead_letters, datetime.now(UTC))
    finally:
        await client.close()
    await wait_settled(settings)

    [merged] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participants.merged.v1")
    new = merged["data"]["participant_id"]
    assert merged["data"]["merged_participant_id"] == old and merged["data"]["reissued"]
    stored = json.loads(await _everything_stored(settings))
    holding_old = sorted(name for name, docs in stored.items() if old in json.dumps(docs))
    # Nowhere but in outcomes' redirect, for events under the old id still on their way.
    assert holding_old == ["outcomes.merges"]
    [redirect] = stored["outcomes.merges"]
    until = datetime.fromisoformat(redirect["until"])
    assert timedelta(days=30) < until - datetime.now(UTC) < timedelta(days=32)
    for name in ("placement.placements", "outcomes.journeys", "intake.participants"):
        assert new in json.dumps(stored[name]), name
    assert await _indicators(settings) == before
    # The municipality's stream says which of its ids the new one is.
    views = [
        e["data"]["facts"]
        for e in await events_on(settings, topics.municipality_events_topic("1380"))
        if e["data"].get("source_type") == "insats.participants.merged.v1"
    ]
    assert views == [
        {
            "participant_id": municipality_sees(env, new, "1380"),
            "merged_participant_id": municipality_sees(env, old, "1380"),
            "request_id": merged["data"]["request_id"],
            "merged_on": merged["data"]["merged_on"],
            "reissued": True,
        }
    ]
