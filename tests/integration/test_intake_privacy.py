"""Intake's privacy guarantees against the real broker and database: sealed identities, protected
identity, special categories kept apart, consent, erasure by crypto-shredding, audited reads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from scripts.harness import wait_settled
from services.intake.identity import IdentityVault
from services.intake.identity_access import Accessor, AccessRefused, read_identity
from services.intake.key_store import KEY_STORE
from services.intake.personnummer import format_with_check
from services.intake.store import IntakeStore
from shared.contracts import topics
from shared.contracts.municipal import (
    ConsentRecorded,
    ContactDetails,
    ErasureRequested,
    ProtectedIdentityRecorded,
)
from shared.contracts.tenants import Channel
from shared.contracts.vocabulary import ConsentPurpose, ErasureReason, TargetGroup
from shared.key_custody import Wrapped, parse_keyring
from shared.messaging.dlq_admin import read_dead_letters
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings
from tests.support import (
    event,
    events_on,
    insats,
    opened_dead_letters,
    publish,
    raw_records,
    running,
    tenant_topic,
)
from tests.unit.factories import placement_started, programme, referral

PNR = format_with_check(date(1988, 4, 9), 432)
NAME = "Astrid Testsson"


async def _enrol(
    env: dict[str, str], settings: Settings, *extra: object, **changes: object
) -> None:
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(settings, event(referral(personnummer=PNR, **changes)))
        await wait_settled(settings, services=["intake"])
        if extra:
            await publish(settings, *(event(e) for e in extra))  # type: ignore[arg-type]
            await wait_settled(settings, services=["intake"])


async def _dump(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every collection of intake's database and of its key store, by name."""
    client = mongo_client(settings)
    try:
        dumped: dict[str, list[dict[str, Any]]] = {}
        for database in ("intake", KEY_STORE):
            db = client[settings.database_name(database)]
            for name in await db.list_collection_names():
                dumped[name] = await db[name].find({}).to_list()
        return dumped
    finally:
        await client.close()


def _vault(env: dict[str, str]) -> IdentityVault:
    return IdentityVault(parse_keyring(env["INSATS_IDENTITY_MASTER_KEY"]))


async def test_identity_is_sealed_with_the_persons_own_key_and_read_only_with_a_reason(
    env: dict[str, str], settings: Settings
) -> None:
    contact = ContactDetails(phone="070-1234567", email="astrid@example.se", address="Storgatan 1")
    await _enrol(env, settings, name=NAME, contact=contact)
    stored = await _dump(settings)
    everything = json.dumps(stored, default=str)
    for secret in (PNR, PNR[2:8], NAME, "070-1234567", "astrid@example.se", "Storgatan"):
        assert secret not in everything
    [participant] = stored["participants"]
    assert set(stored["identities"][0]) == {"_id", "sealed", "updated_at"}
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"))
        with pytest.raises(AccessRefused):
            await read_identity(store, _vault(env), participant["_id"], Accessor("", ""))
        record = await read_identity(
            store,
            _vault(env),
            participant["_id"],
            Accessor("handläggare A", "follow-up call at 6 months"),
        )
        [audit] = await store.audit.find({}).to_list()
    finally:
        await client.close()
    assert record is not None
    assert (record.personnummer, record.name, record.email) == (PNR, NAME, "astrid@example.se")
    assert (audit["action"], audit["actor"], audit["participant_id"]) == (
        "read",
        "handläggare A",
        participant["_id"],
    )


async def test_a_person_referred_again_keeps_one_key_and_the_newest_identity(
    env: dict[str, str], settings: Settings
) -> None:
    await _enrol(env, settings, name=NAME)
    async with running("intake", env):
        await publish(settings, event(programme(programme_id="kungsbacka-iop")))
        await wait_settled(settings, services=["intake"])
        await publish(
            settings,
            event(
                referral(
                    referral_id="1380-2",
                    programme_id="kungsbacka-iop",
                    personnummer=PNR,
                    name="Astrid Nygift",
                )
            ),
        )
        await wait_settled(settings, services=["intake"])
    stored = await _dump(settings)
    [participant] = stored["participants"]
    [key] = stored["person_keys"]
    assert [e["programme_id"] for e in participant["enrolments"]] == [
        "halmstad-150",
        "kungsbacka-iop",
    ]
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"))
        record = await read_identity(
            store, _vault(env), participant["_id"], Accessor("handläggare A", "new referral")
        )
    finally:
        await client.close()
    assert key["_id"] == participant["_id"]
    assert record is not None
    assert (record.personnummer, record.name) == (PNR, "Astrid Nygift")


async def test_a_person_with_protected_identity_is_registered_without_identity_data(
    env: dict[str, str], settings: Settings
) -> None:
    await _enrol(env, settings, name=NAME, protected_identity=True)
    stored = await _dump(settings)
    assert stored.get("identities", []) == []
    assert stored.get("person_keys", []) == []
    [participant] = stored["participants"]
    assert participant["protected_identity"] is True
    assert {"birth_year", "gender"} <= set(participant)
    assert NAME not in json.dumps(stored, default=str)


def _protection(request_id: str, *, protected: bool) -> ProtectedIdentityRecorded:
    return ProtectedIdentityRecorded(
        request_id=request_id,
        personnummer=PNR,
        municipality="1380",
        protected=protected,
        source="procapita/handläggare",
        recorded_on=date(2026, 4, 1),
    )


async def _refer_again(settings: Settings, referral_id: str, programme_id: str) -> None:
    await publish(settings, event(programme(programme_id=programme_id)))
    await wait_settled(settings, services=["intake"])
    # As a case system that does not know of the protection sends it: no flag, a name.
    await publish(
        settings,
        event(
            referral(
                referral_id=referral_id,
                programme_id=programme_id,
                personnummer=PNR,
                name="Astrid Nygift",
            )
        ),
    )
    await wait_settled(settings, services=["intake"])


async def test_protection_recorded_after_enrolment_removes_identity_data_and_holds_until_cleared(
    env: dict[str, str], settings: Settings
) -> None:
    await _enrol(env, settings, _protection("s-1", protected=True), name=NAME)
    after_protection = await _dump(settings)
    async with running("intake", env):
        await _refer_again(settings, "1380-2", "kungsbacka-iop")
        after_referral = await _dump(settings)
        await publish(settings, event(_protection("s-2", protected=False)))
        await wait_settled(settings, services=["intake"])
        await _refer_again(settings, "1380-3", "helsingborg-osa")
    after_clearing = await _dump(settings)
    enrolments = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    changes = await events_on(
        settings, topics.INTAKE_EVENTS, "insats.protected-identity.changed.v1"
    )

    # Protected: the sealed identity and the person's key went with the flag, and it was audited.
    assert after_protection.get("identities", []) == []
    assert after_protection.get("person_keys", []) == []
    [participant] = after_protection["participants"]
    assert participant["protected_identity"] is True
    [audit] = [a for a in after_protection["audit"] if a.get("action") == "protect_identity"]
    assert (audit["actor"], audit["request_id"]) == ("procapita/handläggare", "s-1")
    # Sticky: a referral without the flag stored no identity and did not lift the protection,
    # and placement was told the new enrolment is protected.
    assert after_referral.get("identities", []) == []
    assert "Astrid Nygift" not in json.dumps(after_referral, default=str)
    assert after_referral["participants"][0]["protected_identity"] is True
    assert [e["data"]["protected_identity"] for e in enrolments] == [False, True, False]
    # Cleared by the explicit event only: then the next referral's identity is sealed again.
    assert [(c["data"]["participant_id"], c["data"]["protected"]) for c in changes] == [
        (participant["_id"], True),
        (participant["_id"], False),
    ]
    assert after_clearing["participants"][0]["protected_identity"] is False
    assert [i["_id"] for i in after_clearing["identities"]] == [participant["_id"]]
    assert PNR not in json.dumps(changes)


async def test_special_categories_travel_apart_from_the_enrolment(
    env: dict[str, str], settings: Settings
) -> None:
    await _enrol(env, settings, target_groups=[TargetGroup.DISABILITY, TargetGroup.YOUNG])
    [enrolled] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    assert "funktionsnedsattning" not in json.dumps(enrolled)
    [special] = await events_on(settings, topics.INTAKE_SPECIAL_CATEGORIES)
    assert special["data"]["target_groups"] == ["funktionsnedsattning"]
    assert special["data"]["participant_id"] == enrolled["data"]["participant_id"]


async def test_a_withdrawn_consent_is_announced_under_the_pseudonym(
    env: dict[str, str], settings: Settings
) -> None:
    withdrawal = ConsentRecorded(
        request_id="c-1",
        personnummer=PNR,
        municipality="1380",
        purpose=ConsentPurpose.SHARE_WITH_PARTNER,
        granted=False,
        source="procapita/handläggare",
        recorded_on=date(2026, 4, 1),
    )
    unknown = ConsentRecorded(
        request_id="c-2",
        participant_id="p-nobody",
        municipality="1380",
        purpose=ConsentPurpose.FOLLOW_UP_CONTACT,
        granted=True,
        source="x",
        recorded_on=date(2026, 4, 1),
    )
    await _enrol(env, settings, withdrawal, unknown, consents=[ConsentPurpose.SHARE_WITH_PARTNER])
    [enrolled] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    assert enrolled["data"]["consents"] == ["dela_med_partner"]
    [changed] = await events_on(settings, topics.INTAKE_EVENTS, "insats.consent.changed.v1")
    assert changed["data"] == {
        "participant_id": enrolled["data"]["participant_id"],
        "purpose": "dela_med_partner",
        "granted": False,
        "recorded_on": "2026-04-01",
        "source": "procapita/handläggare",
    }
    assert PNR not in json.dumps(changed)
    [(_, _, headers)] = await raw_records(settings, topics.dead_letter_topic("intake"))
    assert headers["insats-dlq-code"] == b"UNKNOWN_PARTICIPANT"


async def test_erasure_destroys_the_persons_key_and_leaves_nothing_that_links_back(
    env: dict[str, str], settings: Settings
) -> None:
    erasure = ErasureRequested(
        request_id="e-1",
        personnummer=f"{PNR[2:8]}-{PNR[8:]}",
        municipality="1380",
        reason=ErasureReason.GDPR_ARTICLE_17,
        requested_by="procapita/registrator",
    )
    # Referred again while enrolled: rejected, under a case reference of its own.
    again = referral(referral_id="1380-igen", personnummer=PNR)
    await _enrol(env, settings, again, name=NAME)
    before = await _dump(settings)
    pid = before["participants"][0]["_id"]
    backup = before["identities"][0]  # a copy, as a database backup would hold it
    vault = _vault(env)
    [stored_key] = before["person_keys"]
    person_key = vault.unwrap(Wrapped(stored_key["master_key_id"], stored_key["wrapped"]), pid)
    assert vault.open(bytes(backup["sealed"]), person_key, pid).name == NAME
    async with running("intake", env):
        await publish(settings, event(erasure))
        await wait_settled(settings, services=["intake"])
    after = await _dump(settings)
    assert not after.get("participants") and not after.get("identities")
    assert not after.get("person_keys")
    everything = json.dumps(after, default=str)
    for link in (str(pid), PNR, NAME, "1380-1", "1380-igen"):
        assert link not in everything
    # The counts survive, the links do not.
    assert sorted(d["decision"] for d in after["referrals"]) == ["enrolled", "rejected"]
    [erased] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.erased.v1")
    assert erased["data"]["participant_id"] == pid
    assert [a["action"] for a in after["audit"]] == ["erase"]
    # Crypto-shredding: the backup copy was readable with the person's key, and that key is
    # gone from the key store. Backups of the key store itself: tests/integration/
    # test_key_custody.py.
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"))
        await store.identities.insert_one(backup)  # the backup restored beside the live store
        assert await store.read_identity(vault, pid) is None
        await store.identities.delete_one({"_id": pid})
    finally:
        await client.close()

    # Referred again: a new participant, with a new random id that nothing links to the old.
    async with running("intake", env):
        await publish(settings, event(referral(referral_id="1380-3", personnummer=PNR)))
        await wait_settled(settings, services=["intake"])
    again_stored = await _dump(settings)
    [returned] = again_stored["participants"]
    assert returned["_id"] != pid
    assert str(pid) not in json.dumps(again_stored, default=str)
    enrolled = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    assert sorted(e["data"]["participant_id"] for e in enrolled) == sorted([pid, returned["_id"]])


async def test_participants_idle_beyond_the_retention_period_are_erased(
    env: dict[str, str], settings: Settings
) -> None:
    async with _two_participants(env, settings) as (participants, old, recent):
        # Time passes for the first one only: its last event is now two days old.
        await participants.update_one(
            {"_id": old["_id"]}, {"$set": {"last_event_at": datetime.now(UTC) - timedelta(days=2)}}
        )
        remaining = await _after_retention_of_one_day(env, settings, participants)
    assert [p["_id"] for p in remaining] == [recent["_id"]]
    [erased] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.erased.v1")
    assert erased["data"] == {
        "participant_id": old["_id"],
        "reason": "lagringstid",
        "erased_on": datetime.now(UTC).date().isoformat(),
    }


async def test_a_placement_restarts_a_participants_retention_clock(
    env: dict[str, str], settings: Settings
) -> None:
    async with _two_participants(env, settings) as (participants, placed, idle):
        two_days_ago = datetime.now(UTC) - timedelta(days=2)
        await participants.update_many({}, {"$set": {"last_event_at": two_days_ago}})
        # Both were last heard of two days ago; then the first one starts a placement.
        async with running("intake", env):
            await publish(
                settings,
                event(placement_started(placed["_id"]), source="/insats/placement"),
            )
            await wait_settled(settings, services=["intake"])
        remaining = await _after_retention_of_one_day(env, settings, participants)
    assert [p["_id"] for p in remaining] == [placed["_id"]]
    assert remaining[0]["last_event_at"].replace(tzinfo=UTC) > two_days_ago + timedelta(days=1)
    [erased] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.erased.v1")
    assert erased["data"]["participant_id"] == idle["_id"]


@asynccontextmanager
async def _two_participants(
    env: dict[str, str], settings: Settings
) -> AsyncIterator[tuple[Any, dict[str, Any], dict[str, Any]]]:
    """Two people enrolled one after the other: intake's participants, the first, the second."""
    await _enrol(env, settings, name=NAME)
    await _enrol_another(env, settings)
    client = mongo_client(settings)
    try:
        participants = client[settings.database_name("intake")]["participants"]
        [first, second] = await participants.find({}).sort("first_seen").to_list()
        yield participants, first, second
    finally:
        await client.close()


async def _after_retention_of_one_day(
    env: dict[str, str], settings: Settings, participants: Any
) -> list[dict[str, Any]]:
    """Run intake with a retention of one day until it has erased someone; who is left."""
    async with running(
        "intake", {**env, "INSATS_RETENTION_DAYS": "1", "INSATS_RETENTION_CHECK_SECONDS": "0.3"}
    ):
        for _ in range(100):
            if await participants.count_documents({}) == 1:
                break
            await asyncio.sleep(0.2)
        await wait_settled(settings, services=["intake"])
    found: list[dict[str, Any]] = await participants.find({}).to_list()
    return found


async def _enrol_another(env: dict[str, str], settings: Settings) -> None:
    async with running("intake", env):
        await publish(
            settings,
            event(
                referral(referral_id="1380-2", personnummer=format_with_check(date(1979, 1, 2), 3))
            ),
        )
        await wait_settled(settings, services=["intake"])


async def test_a_municipality_sees_its_residents_without_income_support_or_special_categories(
    env: dict[str, str], settings: Settings
) -> None:
    await _enrol(
        env,
        settings,
        target_groups=[TargetGroup.DISABILITY, TargetGroup.YOUNG],
        income_support=True,
    )
    [view] = await events_on(settings, topics.municipality_events_topic("1380"))
    assert view["type"] == "insats.resident-event.v1"
    assert view["data"]["source_type"] == "insats.participant.enrolled.v1"
    assert set(view["data"]["facts"]) == {
        "participant_id",
        "referral_id",
        "programme_id",
        "birth_year",
        "gender",
        "referral_date",
        "participation",
    }
    text = json.dumps(view)
    assert (
        "income_support" not in text
        and "forsorjningsstod" not in text
        and "funktionsnedsattning" not in text
    )
    assert await events_on(settings, topics.municipality_events_topic("1384")) == []


async def test_intakes_dead_letters_are_shown_only_to_a_named_actor_for_a_reason_and_audited(
    env: dict[str, str], settings: Settings
) -> None:
    """A referral with a wrong check digit is dead-lettered byte for byte, personnummer and all,
    sealed under the master key on the topic too: `insats dlq show` refuses to print it without
    an actor and a reason, and with them writes the audit entry first and opens it. Replaying
    it is audited alike, and puts the original bytes back on the referral topic."""
    wrong = PNR[:-1] + str((int(PNR[-1]) + 1) % 10)
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(settings, event(referral(referral_id="1380-fel", personnummer=wrong)))
        await wait_settled(settings, services=["intake"])
    [letter] = await raw_records(settings, topics.dead_letter_topic("intake"))
    for form in (wrong, wrong[2:], f"{wrong[2:8]}-{wrong[8:]}"):
        assert form.encode() not in letter[1]
    [(_, opened, _)] = await opened_dead_letters(env, settings)
    assert wrong.encode() in opened
    listing = await insats(env, "dlq", "list", "--service", "intake")
    assert "INVALID_PERSONNUMMER" in listing
    assert wrong not in listing
    [dead] = await read_dead_letters(settings, ["intake"])
    letter_id = dead.id
    refused = await insats(env, "dlq", "show", "intake", letter_id, exit_code=2)
    assert wrong not in refused
    shown = await insats(
        env,
        "dlq",
        "show",
        "intake",
        letter_id,
        "--actor",
        "Kim Drift, operatör",
        "--reason",
        "Ärende 2026-118: rätta remissen",
    )
    assert wrong in shown
    await insats(env, "dlq", "replay", "intake", letter_id, exit_code=2)
    await insats(
        env,
        "dlq",
        "replay",
        "intake",
        letter_id,
        "--actor",
        "Kim Drift, operatör",
        "--reason",
        "Ärende 2026-118: efter rättning",
    )
    audit = (await _dump(settings))["audit"]
    assert [(a["action"], a["actor"], a["dead_letters"]) for a in audit] == [
        ("dead_letter_read", "Kim Drift, operatör", [letter_id]),
        ("dead_letter_replay", "Kim Drift, operatör", [letter_id]),
    ]
    [replayed] = [
        (value, headers)
        for _, value, headers in await raw_records(settings, tenant_topic(Channel.REFERRALS))
        if "insats-replayed-from" in headers
    ]
    assert replayed[0] == opened
    assert not any(name.startswith("insats-seal") for name in replayed[1])
