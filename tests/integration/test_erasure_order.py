"""An erasure request and the referrals of the same person may reach intake in either order (they
are keyed by their own ids, so they may lie on different partitions): a referral the
municipality made before asking for the erasure never enrols the person again, one made after it
does. On the real broker and database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from scripts.harness import wait_settled
from services.intake.erasure_holds import ErasureHolds
from services.intake.key_store import KEY_STORE
from services.intake.personnummer import format_with_check
from shared.contracts import topics
from shared.contracts.municipal import ErasureRequested
from shared.contracts.vocabulary import ErasureReason
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.integration.test_intake_privacy import _dump
from tests.integration.test_journey_exits import _answers
from tests.support import event, events_on, publish, running
from tests.unit.factories import programme, referral

PNR = format_with_check(date(1991, 2, 3), 517)
ENROLLED = "insats.participant.enrolled.v1"
REJECTED = "insats.referral.rejected.v1"


def _erasure(request_id: str = "radera-1") -> ErasureRequested:
    return ErasureRequested(
        request_id=request_id,
        personnummer=PNR,
        municipality="1380",
        reason=ErasureReason.GDPR_ARTICLE_17,
        requested_by="Viva, registrator",
    )


async def _rejections(settings: Settings) -> dict[str, str]:
    return {
        e["data"]["referral_id"]: e["data"]["reason"]
        for e in await events_on(settings, topics.INTAKE_EVENTS, REJECTED)
    }


async def test_a_referral_made_before_the_erasure_request_but_arriving_after_it_is_refused(
    env: dict[str, str], settings: Settings
) -> None:
    made_first = event(referral(referral_id="1380-tidig", personnummer=PNR))
    erasure = event(_erasure())
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        # The request overtakes the referral made before it.
        await publish(settings, erasure)
        await wait_settled(settings, services=["intake"])
        await publish(settings, made_first)
        await wait_settled(settings, services=["intake"])
        # A referral made after the request is a new one.
        await publish(settings, event(referral(referral_id="1380-ny", personnummer=PNR)))
        await wait_settled(settings, services=["intake"])

    # The request found no one, and the municipality is told so.
    assert (await _answers(settings))[str(erasure.id)] == "UNKNOWN_PARTICIPANT"
    assert (await _rejections(settings)) == {"1380-tidig": "ERASURE_REQUESTED"}
    enrolled = await events_on(settings, topics.INTAKE_EVENTS, ENROLLED)
    assert [e["data"]["referral_id"] for e in enrolled] == ["1380-ny"]
    stored = await _dump(settings)
    assert len(stored["participants"]) == 1


async def test_a_late_referral_from_before_an_erasure_does_not_bring_the_person_back(
    env: dict[str, str], settings: Settings
) -> None:
    enrolled_by = event(referral(referral_id="1380-1", personnummer=PNR))
    # Made before the erasure too, for another programme, but delayed on its partition.
    delayed = event(
        referral(referral_id="1380-sen", personnummer=PNR, programme_id="halmstad-150-b")
    )
    async with running("intake", env):
        await publish(settings, event(programme()), event(programme(programme_id="halmstad-150-b")))
        await wait_settled(settings, services=["intake"])
        await publish(settings, enrolled_by)
        await wait_settled(settings, services=["intake"])
        await publish(settings, event(_erasure()))
        await wait_settled(settings, services=["intake"])
        await publish(settings, delayed)
        await wait_settled(settings, services=["intake"])

    erased = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.erased.v1")
    assert len(erased) == 1
    assert (await _rejections(settings)) == {"1380-sen": "ERASURE_REQUESTED"}
    stored = await _dump(settings)
    assert not stored.get("participants") and not stored.get("person_index")
    # Nor does the refused referral's decision keep its case reference.
    assert "1380-sen" not in json.dumps(stored, default=str)
    # Only the hold is left of the person, and it names no participant.
    [hold] = stored["erasure_holds"]
    assert set(hold) == {"_id", "requested_at", "until"}


async def test_another_municipalitys_request_holds_nothing_back(
    env: dict[str, str], settings: Settings
) -> None:
    """A request naming another municipality than its sender is refused unread: it cannot stop
    that municipality's referrals."""
    forged = event(_erasure().model_copy(update={"municipality": "1381"}), municipality="1380")
    made_first = event(referral(referral_id="1380-1", personnummer=PNR))
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(settings, forged)
        await wait_settled(settings, services=["intake"])
        await publish(settings, made_first)
        await wait_settled(settings, services=["intake"])

    assert (await _answers(settings))[str(forged.id)] == "MUNICIPALITY_MISMATCH"
    enrolled = await events_on(settings, topics.INTAKE_EVENTS, ENROLLED)
    assert [e["data"]["referral_id"] for e in enrolled] == ["1380-1"]


async def test_a_hold_ends_when_no_earlier_referral_can_still_arrive(settings: Settings) -> None:
    client = mongo_client(settings)
    try:
        holds = ErasureHolds(client[settings.database_name(KEY_STORE)]["erasure_holds"])
        await holds.ensure_indexes()
        now = datetime.now(UTC)
        requested = now - timedelta(hours=1)
        await holds.hold("1380", ["lookup-a"], requested, now + timedelta(hours=72), None)
        await holds.hold("1380", ["lookup-b"], requested, now - timedelta(seconds=1), None)

        held = await holds.held([("1380", "lookup-a"), ("1380", "lookup-b")], now, None)
        assert set(held) == {("1380", "lookup-a")}
        assert held[("1380", "lookup-a")] == requested.replace(
            microsecond=requested.microsecond // 1000 * 1000
        )
        # Only for the municipality that asked.
        assert await holds.held([("1381", "lookup-a")], now, None) == {}
        indexes = await holds.holds.index_information()
        assert any(spec.get("expireAfterSeconds") == 0 for spec in indexes.values())
    finally:
        await client.close()
