"""Rebuilding outcomes' read models from the event history, against the real broker and database."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest

from scripts.harness import Publisher, wait_settled
from services.outcomes.indicators import lookup
from services.outcomes.rebuild import REBUILD, ServiceStillRunning, compare, rebuild, swap
from services.outcomes.store import READ_MODELS
from shared.contracts import topics
from shared.contracts.intake import (
    ConsentChanged,
    ParticipantErased,
    ParticipantsMerged,
    ReferralRejected,
    SpecialCategoriesRecorded,
)
from shared.contracts.outcomes import FollowUpDue
from shared.contracts.tenants import Channel, Tenant
from shared.contracts.vocabulary import (
    ConsentPurpose,
    ErasureReason,
    RejectionReason,
    TargetGroup,
)
from shared.messaging.kafka import ensure_topics
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings
from tests.integration.test_outcomes_indicators import (
    AS_OF,
    EXPECTED,
    dataset,
    figures,
    load,
    publish_dataset,
)
from tests.support import event, events_on, publish, running, tenant_topic
from tests.unit.factories import participant_enrolled, placement_started


def _rejected() -> ReferralRejected:
    return ReferralRejected(
        referral_id="r-too-old",
        programme_id="kalmar",
        municipality="0880",
        reason=RejectionReason.AGE_OUT_OF_RANGE,
        message="too old",
        message_sv="för gammal",
        received_at=datetime(2026, 1, 5, 9, tzinfo=UTC),
    )


async def _follow_up_flags(settings: Settings, database: str) -> dict[str, tuple[object, ...]]:
    client = mongo_client(settings)
    try:
        docs = ServiceDatabase(client, settings, database).collection("follow_ups").find({})
        return {d["_id"]: (d.get("emitted"), d.get("answered"), d.get("open")) async for d in docs}
    finally:
        await client.close()


async def test_rebuilt_read_models_give_the_same_indicators_and_can_be_swapped_in(
    env: dict[str, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSATS_TODAY", AS_OF.isoformat())
    monkeypatch.setenv("INSATS_OUTCOMES_FOLLOW_UP_CHECK_SECONDS", "0.3")
    async with running("outcomes", env):
        await publish_dataset(settings, event(_rejected(), "0880"))
        # Settled means quiet for a second: several announcing rounds ran and were published.
        with pytest.raises(ServiceStillRunning):
            await swap(settings)
    announced = await events_on(settings, topics.OUTCOMES_EVENTS, FollowUpDue.TYPE)
    assert announced, "the live service announced the follow-ups due by AS_OF"

    result = await rebuild(settings)
    assert result.replayed[topics.PLACEMENT_EVENTS] == 17  # 9 started, 6 ended, 2 changed
    assert result.announced == len({a["data"]["follow_up_id"] for a in announced})
    assert not result.dead_lettered
    assert await compare(settings, AS_OF) == []
    rebuilt = await load(settings, REBUILD)
    assert figures(rebuilt) == EXPECTED
    assert rebuilt.funnel[0].count == 11  # ten enrolled and one rejected referral
    # Which follow-ups were announced and answered is rebuilt too, so none is announced twice.
    assert await _follow_up_flags(settings, REBUILD) == await _follow_up_flags(settings, "outcomes")

    # A corrected definition applies to the past at once: version 2 of "resultat vid avslut"
    # over the same rebuilt history gives 2 of 6 where version 1 gave 4 of 6.
    versions = await load(
        settings,
        REBUILD,
        definitions=[lookup("resultat_vid_avslut@1"), lookup("resultat_vid_avslut@2")],
    )
    assert [
        (r.indicator.name, r.total.value.numerator, r.total.value.denominator)
        for r in versions.indicators
    ] == [("resultat_vid_avslut@1", 4, 6), ("resultat_vid_avslut@2", 2, 6)]

    client = mongo_client(settings)
    try:
        rebuilt_inbox = {
            d["_id"]
            async for d in ServiceDatabase(client, settings, REBUILD).inbox.find({}, {"_id": 1})
        }
    finally:
        await client.close()
    moved = await swap(settings)
    assert "journeys" in moved
    assert "follow_ups" in moved
    swapped = await load(settings)
    assert figures(swapped) == EXPECTED
    assert swapped.funnel[0].count == 11
    client = mongo_client(settings)
    try:
        live = ServiceDatabase(client, settings, "outcomes")
        live_inbox = {d["_id"] async for d in live.inbox.find({}, {"_id": 1})}
        # What the rebuild applied is known to the live inbox: never applied a second time.
        assert rebuilt_inbox <= live_inbox
        assert settings.database_name(REBUILD) not in await client.list_database_names()
    finally:
        await client.close()

    # The service starts on the swapped-in read models and counts nothing twice.
    async with running("outcomes", env):
        await wait_settled(settings, services=["outcomes"])
    assert (await load(settings)).funnel[0].count == 11


def _normalised(documents: list[dict[str, Any]]) -> list[str]:
    """Documents comparable across two folds: erased people's random ids and the inbox's clock
    readings differ by design, everything else must not."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k != "at"}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, str):
            return re.sub(r"erased-[0-9a-f]{32}", "erased", value)
        return value

    return sorted(json.dumps(scrub(d), sort_keys=True, default=str) for d in documents)


async def _documents(settings: Settings, database: str, name: str) -> list[dict[str, Any]]:
    client = mongo_client(settings)
    try:
        found = ServiceDatabase(client, settings, database).collection(name).find({})
        return [d async for d in found]
    finally:
        await client.close()


async def test_folding_in_memory_writes_the_same_documents_as_folding_in_the_database(
    settings: Settings,
) -> None:
    on = date(2026, 9, 1)
    history = [
        *dataset(),
        event(_rejected(), "0880"),
        event(
            SpecialCategoriesRecorded(
                participant_id="p1", programme_id="kalmar", target_groups=[TargetGroup.DISABILITY]
            ),
            "0880",
        ),
        event(
            ConsentChanged(
                participant_id="p2",
                purpose=ConsentPurpose.FOLLOW_UP_CONTACT,
                granted=False,
                recorded_on=on,
                source="test",
            ),
            "0880",
        ),
        event(
            ParticipantErased(
                participant_id="p3", reason=ErasureReason.GDPR_ARTICLE_17, erased_on=on
            ),
            "0880",
        ),
        # p4 was also referred to Halmstad's programme under another number; merged, and a
        # placement event under the old id (on another topic) arrives after the merge.
        event(participant_enrolled("p4-other"), "1380"),
        event(
            ParticipantsMerged(
                participant_id="p4",
                merged_participant_id="p4-other",
                request_id="l-1",
                merged_on=on,
            ),
            "1380",
        ),
    ]
    late = event(placement_started("p4-other"), "1380")
    await ensure_topics(settings, {settings.topic(t): {} for t in topics.ALL_TOPICS})
    await publish(settings, *history, history[0])  # the first one twice: a producer's retry
    await publish(settings, late)
    async with Publisher(settings) as publisher:
        await publisher.send_raw(
            tenant_topic(Channel.OUTCOME_REPORTS, Tenant.municipality("0880")), b"{not json", b"p9"
        )
        await publisher.flush()

    in_memory = await rebuild(settings, database="rebuild_in_memory")
    in_database = await rebuild(settings, database="rebuild_in_database", in_memory=False)

    assert in_memory.replayed == in_database.replayed
    assert in_memory.dead_lettered == in_database.dead_lettered == Counter({"INVALID_JSON": 1})
    for name in (*READ_MODELS, "inbox"):
        folded_in_memory = await _documents(settings, "rebuild_in_memory", name)
        folded_in_database = await _documents(settings, "rebuild_in_database", name)
        assert _normalised(folded_in_memory) == _normalised(folded_in_database), name
    journeys = await _documents(settings, "rebuild_in_memory", "journeys")
    assert {j["participant_id"] for j in journeys} >= {"p1", "p2", "p4"}
    assert "p4-other" not in {j["participant_id"] for j in journeys}
    [merged] = [j for j in journeys if j["programme_id"] == "halmstad-150"]
    assert (merged["_id"], merged["participant_id"]) == ("halmstad-150:p4", "p4")
    assert merged["first_placement"] == "2026-04-01"
    assert "p3" not in {j["participant_id"] for j in journeys}, "erased, under a random id"
    assert any(j["participant_id"].startswith("erased-") for j in journeys)
    assert any(j.get("follow_up_contact_withdrawn") for j in journeys)
    assert any(j.get("special_target_groups") for j in journeys)
