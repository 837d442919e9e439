"""Participants of versions before 3 December 2026 had the keyed lookup of their number as id:
`insats identity reissue-legacy-ids` gives each a random one, in every record intake keeps, and
tells the other services as a merge. On the real broker and database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from scripts.harness import wait_settled
from services.intake import domain
from services.intake.identity import IdentityVault
from services.intake.personnummer import format_with_check, parse
from services.intake.store import IntakeStore
from services.outcomes.store import OutcomesStore
from shared.contracts import topics
from shared.key_custody import parse_keyring
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings
from tests.integration.test_intake_privacy import _dump
from tests.support import event, events_on, insats, municipality_sees, publish, running
from tests.unit.factories import programme, referral

PNR = format_with_check(date(1979, 8, 21), 618)
NAME = "Gunnel Gammalid"


async def _as_an_earlier_version_left_it(env: dict[str, str], settings: Settings) -> str:
    """The participant under the lookup of their number, with no index entry: what versions
    before the index stored. The lookup."""
    assert settings.pseudonym_key is not None
    lookup = domain.person_lookup(settings.pseudonym_key.get_secret_value().encode())(
        parse(PNR, date(2026, 12, 7))
    )
    master = parse_keyring(env["INSATS_IDENTITY_MASTER_KEY"])
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"), master)
        [participant] = await store.participants.find({}).to_list()
        await store.reissue(
            participant["_id"], lookup, IdentityVault(master), datetime.now(UTC), None
        )
        await store.keys.index.forget(lookup, master, None)
        assert await store.keys.index.entries.count_documents({}) == 0
    finally:
        await client.close()
    return lookup


async def test_a_participant_of_an_earlier_version_gets_a_random_id_everywhere_in_intake(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(settings, event(referral(referral_id="1380-1", personnummer=PNR, name=NAME)))
        await wait_settled(settings, services=["intake"])
    legacy = await _as_an_earlier_version_left_it(env, settings)
    assert legacy in json.dumps(await _dump(settings), default=str)

    who = ["--actor", "Kim Drift, operatör", "--reason", "Ärende 2026-131: slumpade id"]
    said = await insats(env, "identity", "reissue-legacy-ids", *who)
    assert "1 participant(s)" in said
    async with running("intake", env):
        await wait_settled(settings, services=["intake"])
        # The same person referred again is found under the new id.
        await publish(settings, event(referral(referral_id="1380-2", personnummer=PNR)))
        await wait_settled(settings, services=["intake"])
    assert "0 participant(s)" in await insats(env, "identity", "reissue-legacy-ids", *who)

    stored = await _dump(settings)
    # Only as what it always was: the lookup of the number in the index, which names the new id.
    where = [name for name, docs in stored.items() if legacy in json.dumps(docs, default=str)]
    assert where == ["person_index"]
    [entry] = stored["person_index"]
    assert entry["_id"] == legacy
    [participant] = stored["participants"]
    new = participant["_id"]
    assert new != legacy and new.startswith("p-")
    [merged] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participants.merged.v1")
    assert merged["data"] == {
        "participant_id": new,
        "merged_participant_id": legacy,
        "request_id": merged["data"]["request_id"],
        "merged_on": merged["data"]["merged_on"],
        "reissued": True,
    }
    # The municipality learns which of its ids for the person the new one is.
    [view] = [
        e["data"]
        for e in await events_on(settings, topics.municipality_events_topic("1380"))
        if e["data"].get("source_type") == "insats.participants.merged.v1"
    ]
    assert view["facts"] == {
        "participant_id": municipality_sees(env, new, "1380"),
        "merged_participant_id": municipality_sees(env, legacy, "1380"),
        "request_id": merged["data"]["request_id"],
        "merged_on": merged["data"]["merged_on"],
        "reissued": True,
    }
    [again] = await events_on(settings, topics.INTAKE_EVENTS, "insats.referral.rejected.v1")
    assert again["data"]["reason"] == "ALREADY_ENROLLED"
    master = parse_keyring(env["INSATS_IDENTITY_MASTER_KEY"])
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"), master)
        identity = await store.read_identity(IdentityVault(master), new)
        assert identity is not None and identity.name == NAME
        named = await store.named([legacy], None)
        assert named[legacy].participant_id == new
    finally:
        await client.close()
    reissues = [a for a in stored["audit"] if a["action"] == "reissue_participant_id"]
    assert [(a["actor"], a["participant_id"]) for a in reissues] == [("Kim Drift, operatör", new)]


async def test_outcomes_forgets_a_reissued_id_once_nothing_under_it_can_arrive(
    settings: Settings,
) -> None:
    client = mongo_client(settings)
    try:
        store = OutcomesStore(
            ServiceDatabase(client, settings, "outcomes"), reissue_redirect_days=31
        )
        await store.ensure_indexes()
        now = datetime.now(UTC).replace(microsecond=0)
        await store.merge("p-old-hash", "p-random", None, reissued_at=now)
        await store.merge("p-samordning", "p-personnummer", None)

        assert await store.merged_into(["p-old-hash", "p-samordning"], None) == {
            "p-old-hash": "p-random",
            "p-samordning": "p-personnummer",
        }
        redirects = {doc["_id"]: doc for doc in await store.merges.find({}).to_list()}
        assert redirects["p-old-hash"]["until"] == now + timedelta(days=31)
        assert "until" not in redirects["p-samordning"]  # one person, two numbers: for good
        indexes = await store.merges.index_information()
        assert indexes["until_1"]["expireAfterSeconds"] == 0
    finally:
        await client.close()
