"""What an erasure leaves behind in time: how long outcomes remembers an erased participant, so
that an event about them still on an input topic never opens a journey again, and nothing staged
about them goes out (fast rule tests on the in-memory store; the real database's erasure is
tested in tests/e2e/test_erasure_across_services.py and tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.outcomes.store import OutcomesStore
from shared.contracts.envelope import new_event
from shared.contracts.registry import parse_event
from shared.memory_database import MemoryDatabase
from shared.persistence import Transaction
from shared.settings import Settings
from tests.unit.factories import participant_enrolled

ERASED_AT = datetime(2026, 6, 1, 12, tzinfo=UTC)


async def _erased_after(store: OutcomesStore, days: int) -> bool:
    await store.anonymise("p-erased", ERASED_AT, None)
    await store.forget_old_erasure_marks(ERASED_AT + timedelta(days=days))
    return "p-erased" in await store.erased_among(["p-erased", "p-other"], None)


async def test_an_erased_participant_is_remembered_for_ever_where_topics_keep_everything() -> None:
    store = OutcomesStore(MemoryDatabase(Settings(), "outcomes"))
    assert await _erased_after(store, 3650)


async def test_an_erased_participant_is_remembered_as_long_as_the_input_topics_retain() -> None:
    assert await _erased_after(
        OutcomesStore(MemoryDatabase(Settings(), "outcomes"), erasure_mark_days=30), 29
    )
    assert not await _erased_after(
        OutcomesStore(MemoryDatabase(Settings(), "outcomes"), erasure_mark_days=30), 31
    )


def test_an_erasure_takes_back_what_its_batch_staged_about_the_person() -> None:
    tx = Transaction(session=None, settings=Settings(), now=ERASED_AT)
    for pid in ("p-erased", "p-other"):
        tx.emit(new_event(participant_enrolled(pid), source="urn:test", municipality="1380"))
    assert tx.unstage(["p-erased"]) == 1
    assert [parse_event(r.value).data.participant_id for r in tx.outgoing] == ["p-other"]
