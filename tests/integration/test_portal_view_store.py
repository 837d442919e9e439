"""The portal's views on the real database, filed by the feed in the transaction that stores
its entries: a resident referred long ago and a placement without news stay on the pages after
the feed's retention has taken their entries; an erased participant and a withdrawn placement
are forgotten; a subject keeps its latest events only; what the feed held before the views
began is filed once."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from services.gateway.feed_records import StreamRecord
from services.gateway.feed_store import FeedStore
from services.gateway.portal.view_store import KEPT_PER_SUBJECT, PortalViews
from services.gateway.portal.views import (
    PARTNER_PLACEMENT,
    RESIDENT_EVENT,
    caseworker_view,
    partner_view,
)
from shared.contracts.tenants import Tenant
from shared.persistence import DURABLE, mongo_client
from shared.settings import Settings

HALMSTAD, HOTEL = Tenant.municipality("1380"), Tenant.partner("hotellet")


def _resident(subject: str, source_type: str, **facts: Any) -> StreamRecord:
    event_id = uuid.uuid4()
    envelope = {
        "specversion": "1.0",
        "id": str(event_id),
        "type": RESIDENT_EVENT,
        "data": {
            "source_type": source_type,
            "subject_id": subject,
            "occurred_at": "2026-03-02T08:00:00Z",
            "facts": facts,
        },
    }
    return StreamRecord(HALMSTAD, event_id, RESIDENT_EVENT, json.dumps(envelope), "t:0:0")


def _placement(placement: str, status: str | None) -> StreamRecord:
    event_id = uuid.uuid4()
    envelope = {
        "specversion": "1.0",
        "id": str(event_id),
        "type": PARTNER_PLACEMENT,
        "data": {"placement_id": placement, "status": status},
    }
    return StreamRecord(HOTEL, event_id, PARTNER_PLACEMENT, json.dumps(envelope), "t:0:0")


@pytest.fixture
async def stores(settings: Settings) -> AsyncIterator[tuple[FeedStore, PortalViews]]:
    client = mongo_client(settings)
    db = client.get_database(settings.database_name("gateway"), write_concern=DURABLE)
    views = PortalViews(db)
    feed = FeedStore(client, db, also=views.file)
    await feed.ensure_indexes(timedelta(days=30))
    await views.ensure_indexes()
    try:
        yield feed, views
    finally:
        await client.close()


async def test_residents_and_placements_outlive_the_feeds_retention(
    stores: tuple[FeedStore, PortalViews],
) -> None:
    feed, views = stores
    await feed.append(
        [
            _resident("a-1", "insats.participant.enrolled.v1", programme_id="p150"),
            _resident("a-1", "insats.placement.started.v1", partner_id="hotellet"),
            _resident("r-9", "insats.referral.rejected.v1", reason="x"),
            _placement("pl-1", "pagar"),
        ]
    )
    # The feed's retention takes every entry.
    await feed.feed.delete_many({})

    residents = caseworker_view(await views.stream(HALMSTAD), date(2026, 4, 1))
    resident = residents.resident("a-1")
    assert resident is not None and resident.standing == "i insats"
    assert [r.participant_id for r in residents.residents] == ["a-1"]
    ongoing = partner_view(await views.stream(HOTEL)).ongoing
    assert [p.placement_id for p in ongoing] == ["pl-1"]


async def test_an_erased_participant_and_a_withdrawn_placement_are_forgotten(
    stores: tuple[FeedStore, PortalViews],
) -> None:
    feed, views = stores
    await feed.append(
        [
            _resident("a-1", "insats.participant.enrolled.v1", programme_id="p150"),
            _resident("a-2", "insats.participant.enrolled.v1", programme_id="p150"),
            _placement("pl-1", "erbjuden"),
        ]
    )
    await feed.append([_resident("a-1", "insats.participant.erased.v1"), _placement("pl-1", None)])

    left = await views.subjects.find({}, {"_id": 1}).to_list()
    assert sorted(doc["_id"] for doc in left) == ["municipality:1380|resident:a-2"]
    assert await views.stream(HOTEL) == []


async def test_a_subject_keeps_its_latest_events_only(
    stores: tuple[FeedStore, PortalViews],
) -> None:
    feed, views = stores
    many = KEPT_PER_SUBJECT + 25
    await feed.append([_resident("a-1", "insats.participant.enrolled.v1", n=0)])
    for start in range(1, many, 100):
        await feed.append(
            [
                _resident("a-1", "insats.attendance.recorded.v1", n=n)
                for n in range(start, min(start + 100, many))
            ]
        )

    kept = [event["data"]["facts"]["n"] for event in await views.stream(HALMSTAD)]
    assert kept == list(range(many - KEPT_PER_SUBJECT, many))


async def test_what_the_feed_held_before_the_views_began_is_filed_once(
    stores: tuple[FeedStore, PortalViews], settings: Settings
) -> None:
    feed, views = stores
    earlier = FeedStore(feed.client, views.subjects.database)  # a gateway without the views
    await earlier.append(
        [
            _resident("a-1", "insats.participant.enrolled.v1", programme_id="p150"),
            _placement("pl-1", "pagar"),
        ]
    )
    assert await views.stream(HALMSTAD) == []

    assert await views.file_the_feed(feed.feed, batch=1) == 2
    assert await views.file_the_feed(feed.feed) == 0
    assert len(await views.stream(HALMSTAD)) == 1
    assert len(await views.stream(HOTEL)) == 1


async def test_a_page_folds_the_most_recently_active_subjects_within_its_bound(
    stores: tuple[FeedStore, PortalViews], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.gateway.portal import view_store

    feed, views = stores
    for subject in ("a-1", "a-2", "a-3"):
        await feed.append(
            [
                _resident(subject, "insats.participant.enrolled.v1", programme_id="p150"),
                _resident(subject, "insats.attendance.recorded.v1"),
            ]
        )
    monkeypatch.setattr(view_store, "MOST_EVENTS", 3)

    shown = {event["data"]["subject_id"] for event in await views.stream(HALMSTAD)}
    assert shown == {"a-2", "a-3"}
