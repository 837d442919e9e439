"""A samordningsnummer replaced by a personnummer, against the real broker and database: one
participant under both numbers, the sealed identity renumbered, the link audited and erased with
the person."""

from __future__ import annotations

from datetime import date

from scripts.harness import wait_settled
from services.intake.identity import IdentityVault
from services.intake.personnummer import format_with_check
from services.intake.store import IntakeStore
from shared.contracts import topics
from shared.contracts.municipal import (
    ConsentRecorded,
    ErasureRequested,
    IdentityLinkRecorded,
)
from shared.contracts.vocabulary import ConsentPurpose, ErasureReason
from shared.key_custody import parse_keyring
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings
from tests.integration.test_intake_privacy import _dump
from tests.integration.test_journey_exits import _answers
from tests.support import (
    event,
    events_on,
    everything_stored,
    outcomes_store,
    publish,
    running,
)
from tests.unit.factories import agreement, programme, referral

BORN = date(1995, 7, 14)
SAMORDNINGSNUMMER = format_with_check(BORN, 271, coordination=True)
PERSONNUMMER = format_with_check(BORN, 384)
ENROLLED = "insats.participant.enrolled.v1"
MERGED = "insats.participants.merged.v1"


def _link(
    request_id: str, coordination: str, person: str, municipality: str = "1380"
) -> IdentityLinkRecorded:
    return IdentityLinkRecorded(
        request_id=request_id,
        municipality=municipality,
        samordningsnummer=coordination,
        personnummer=person,
        recorded_on=date(2026, 4, 1),
        recorded_by="Procapita, handläggare",
    )


async def test_a_samordningsnummer_replaced_by_a_personnummer_stays_one_participant(
    env: dict[str, str], settings: Settings
) -> None:
    link = event(_link("l-1", SAMORDNINGSNUMMER, PERSONNUMMER))
    both_personnummer = event(_link("l-2", PERSONNUMMER, format_with_check(BORN, 397)))
    from_elsewhere = event(_link("l-3", SAMORDNINGSNUMMER, PERSONNUMMER, "0880"), "0880")
    async with running("intake", env):
        await publish(settings, event(programme()), event(programme(programme_id="kalmar")))
        await wait_settled(settings, services=["intake"])
        await publish(settings, event(referral(personnummer=SAMORDNINGSNUMMER, name="Amal")))
        await wait_settled(settings, services=["intake"])
        for request in (link, both_personnummer, from_elsewhere):
            await publish(settings, request)
            await wait_settled(settings, services=["intake"])
        # Under the new number: a referral to another programme, and a consent.
        await publish(
            settings,
            event(
                referral(
                    personnummer=PERSONNUMMER,
                    programme_id="kalmar",
                    referral_id="1380-2",
                    name="Amal",
                )
            ),
        )
        await wait_settled(settings, services=["intake"])
        await publish(
            settings,
            event(
                ConsentRecorded(
                    request_id="c-1",
                    personnummer=PERSONNUMMER,
                    municipality="1380",
                    purpose=ConsentPurpose.FOLLOW_UP_CONTACT,
                    granted=True,
                    source="Procapita",
                    recorded_on=date(2026, 4, 2),
                )
            ),
        )
        await wait_settled(settings, services=["intake"])
        stored = await _dump(settings)
    enrolments = await events_on(settings, topics.INTAKE_EVENTS, ENROLLED)
    assert [e["data"]["programme_id"] for e in enrolments] == ["halmstad-150", "kalmar"]
    [pid] = {e["data"]["participant_id"] for e in enrolments}
    [linked] = await events_on(settings, topics.INTAKE_EVENTS, "insats.identity.linked.v1")
    assert (linked["data"]["participant_id"], linked["data"]["request_id"]) == (pid, "l-1")
    [consent] = await events_on(settings, topics.INTAKE_EVENTS, "insats.consent.changed.v1")
    assert consent["data"]["participant_id"] == pid
    # Refused: two personnummer, and a municipality that never referred the person.
    # (the first is bad data; the second gets the answer an unknown person gets)
    answers = await _answers(settings)
    assert answers == {str(both_personnummer.id): "INVALID_PERSONNUMMER"}
    assert set((await _answers(settings, "0880")).values()) == {"UNKNOWN_PARTICIPANT"}
    # One participant; the sealed identity now opens to the personnummer; the link audited.
    assert [doc["_id"] for doc in stored["participants"]] == [pid]
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"))
        vault = IdentityVault(parse_keyring(env["INSATS_IDENTITY_MASTER_KEY"]))
        identity = await store.read_identity(vault, pid)
    finally:
        await client.close()
    assert identity is not None and identity.personnummer == PERSONNUMMER
    [audit] = [a for a in stored["audit"] if a.get("action") == "link_identity"]
    assert (audit["participant_id"], audit["actor"]) == (pid, "Procapita, handläggare")
    # Nothing in clear: both numbers are kept as keyed lookups in the key store's index, and
    # the participant each names is wrapped by the master key, not written beside it.
    index = stored["person_index"]
    assert sorted(doc["kind"] for doc in index) == ["link", "referral"]
    assert PERSONNUMMER not in everything_stored(index)
    assert pid not in everything_stored(index)
    assert "identity_links" not in stored

    # Erased under the new number: the link goes with the person.
    async with running("intake", env):
        await publish(
            settings,
            event(
                ErasureRequested(
                    request_id="e-1",
                    personnummer=PERSONNUMMER,
                    municipality="1380",
                    reason=ErasureReason.GDPR_ARTICLE_17,
                    requested_by="Procapita",
                )
            ),
        )
        await wait_settled(settings, services=["intake"])
    after = await _dump(settings)
    assert after["participants"] == [] and after["person_index"] == []
    [erased] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.erased.v1")
    assert erased["data"]["participant_id"] == pid


async def test_a_person_referred_under_both_numbers_becomes_one_participant_everywhere(
    env: dict[str, str], settings: Settings
) -> None:
    """Referred under the samordningsnummer to the introduction and, before the link, under the
    personnummer to SFI: the link merges the two. Intake keeps one participant with both
    enrolments and the identity sealed under the personnummer; placement's queue place is the
    remaining participant's, and the place that opens is offered to them; outcomes has both
    journeys under one participant; a referral under either number finds them."""
    sfi = programme(programme_id="halmstad-sfi", capacity=0)
    link = event(_link("l-1", SAMORDNINGSNUMMER, PERSONNUMMER))
    async with running("intake", env), running("placement", env), running("outcomes", env):
        await publish(
            settings,
            event(programme(capacity=0)),
            event(sfi),
            event(agreement(programme_id="halmstad-sfi", places=1)),
        )
        await wait_settled(settings)
        await publish(settings, event(referral(personnummer=SAMORDNINGSNUMMER, name="Amal")))
        await publish(
            settings,
            event(
                referral(
                    personnummer=PERSONNUMMER,
                    programme_id="halmstad-sfi",
                    referral_id="1380-2",
                    name="Amal",
                )
            ),
        )
        await wait_settled(settings)
        await publish(settings, link)
        await wait_settled(settings)
        # A place opens; then the SFI referral is sent again, under the samordningsnummer.
        await publish(settings, event(sfi.model_copy(update={"capacity": 1})))
        await wait_settled(settings)
        again = event(
            referral(
                personnummer=SAMORDNINGSNUMMER, programme_id="halmstad-sfi", referral_id="1380-3"
            )
        )
        await publish(settings, again)
        await wait_settled(settings)
        stored = await _dump(settings)
    enrolments = await events_on(settings, topics.INTAKE_EVENTS, ENROLLED)
    by_programme = {e["data"]["programme_id"]: e["data"]["participant_id"] for e in enrolments}
    kept, merged = by_programme["halmstad-150"], by_programme["halmstad-sfi"]
    assert kept != merged
    [event_merged] = await events_on(settings, topics.INTAKE_EVENTS, MERGED)
    assert event_merged["data"]["participant_id"] == kept
    assert event_merged["data"]["merged_participant_id"] == merged
    [linked] = await events_on(settings, topics.INTAKE_EVENTS, "insats.identity.linked.v1")
    assert linked["data"]["participant_id"] == kept
    # Intake: one participant, both enrolments; the merged one's identity and key are gone.
    [participant] = stored["participants"]
    assert participant["_id"] == kept
    assert sorted(e["programme_id"] for e in participant["enrolments"]) == [
        "halmstad-150",
        "halmstad-sfi",
    ]
    assert [doc["_id"] for doc in stored["identities"]] == [kept]
    assert {a["action"] for a in stored["audit"] if a.get("participant_id") == merged} == {
        "merge_participants"
    }
    [refused] = await events_on(settings, topics.INTAKE_EVENTS, "insats.referral.rejected.v1")
    assert refused["data"]["reason"] == "ALREADY_ENROLLED"
    # Placement: the place went to the remaining participant; nothing is left under the other.
    [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, "insats.placement.offered.v1")
    assert (offer["data"]["participant_id"], offer["data"]["programme_id"]) == (
        kept,
        "halmstad-sfi",
    )
    client = mongo_client(settings)
    try:
        placement = client[settings.database_name("placement")]
        left_behind = [
            doc
            for name in ("waiting", "placements", "check_ins")
            for doc in await placement[name].find({"participant_id": merged}).to_list()
        ]
    finally:
        await client.close()
    assert left_behind == []
    # Outcomes: both journeys are one person's.
    async with outcomes_store(settings) as outcomes:
        journeys = [
            *(await outcomes.journeys_of("halmstad-150")),
            *(await outcomes.journeys_of("halmstad-sfi")),
        ]
    assert [(j.programme_id, j.participant_id) for j in journeys] == [
        ("halmstad-150", kept),
        ("halmstad-sfi", kept),
    ]
    assert journeys[1].first_placement is None  # offered, not started


async def test_a_personnummer_that_already_names_someone_else_is_not_linked(
    env: dict[str, str], settings: Settings
) -> None:
    """Referred under both numbers to the same programme: the two enrolments could not be told
    apart, so the two participants are not merged."""
    link = event(_link("l-1", SAMORDNINGSNUMMER, PERSONNUMMER))
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(
            settings,
            event(referral(personnummer=SAMORDNINGSNUMMER)),
            event(referral(personnummer=PERSONNUMMER, referral_id="1380-2")),
        )
        await wait_settled(settings, services=["intake"])
        await publish(settings, link)
        await wait_settled(settings, services=["intake"])
    assert await _answers(settings) == {str(link.id): "IDENTITY_IN_USE"}
    assert await events_on(settings, topics.INTAKE_EVENTS, "insats.identity.linked.v1") == []
    enrolments = await events_on(settings, topics.INTAKE_EVENTS, ENROLLED)
    assert len({e["data"]["participant_id"] for e in enrolments}) == 2


async def test_a_merge_keeps_the_protection_either_participant_had(
    env: dict[str, str], settings: Settings
) -> None:
    """The personnummer's participant had protected identity: after the merge the remaining
    participant has it, no identity data is held for either, and placement is told."""
    link = event(_link("l-1", SAMORDNINGSNUMMER, PERSONNUMMER))
    async with running("intake", env), running("placement", env):
        await publish(
            settings,
            event(programme(capacity=0)),
            event(programme(programme_id="halmstad-sfi", capacity=0)),
        )
        await wait_settled(settings, services=["intake", "placement"])
        await publish(
            settings,
            event(referral(personnummer=SAMORDNINGSNUMMER, name="Amal")),
            event(
                referral(
                    personnummer=PERSONNUMMER,
                    programme_id="halmstad-sfi",
                    referral_id="1380-2",
                    protected_identity=True,
                )
            ),
        )
        await wait_settled(settings, services=["intake", "placement"])
        await publish(settings, link)
        await wait_settled(settings, services=["intake", "placement"])
        stored = await _dump(settings)
        client = mongo_client(settings)
        try:
            waiting = (
                await client[settings.database_name("placement")]["waiting"].find({}).to_list()
            )
        finally:
            await client.close()
    [merged] = await events_on(settings, topics.INTAKE_EVENTS, MERGED)
    kept = merged["data"]["participant_id"]
    [protection] = await events_on(
        settings, topics.INTAKE_EVENTS, "insats.protected-identity.changed.v1"
    )
    assert (protection["data"]["participant_id"], protection["data"]["protected"]) == (kept, True)
    [participant] = stored["participants"]
    assert (participant["_id"], participant["protected_identity"]) == (kept, True)
    assert stored.get("identities", []) == [] and stored.get("person_keys", []) == []
    assert {(doc["participant_id"], doc["protected_identity"]) for doc in waiting} == {(kept, True)}
