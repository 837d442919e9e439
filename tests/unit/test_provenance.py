"""What a report's provenance says: the records it read, whether the log was whole, the moment
whose knowledge it holds, and a digest that changes with any of it."""

from datetime import UTC, date, datetime

import pytest

from services.outcomes.provenance import (
    HistoryIncomplete,
    known_until,
    log_bounds,
    log_of,
    manifest_digest,
    require_whole,
)
from shared.messaging.kafka import LogSpan


def test_a_log_that_retention_has_cut_gives_no_report() -> None:
    whole = [
        LogSpan("t.insats.intake.events", 0, 0, 40),
        LogSpan("t.insats.intake.events", 1, 0, 0),
    ]
    require_whole(whole)
    with pytest.raises(HistoryIncomplete, match=r"insats.intake.events\[1\]"):
        require_whole([*whole[:1], LogSpan("t.insats.intake.events", 1, 12, 30)])


def test_the_records_read_are_the_records_verified() -> None:
    spans = [LogSpan("b", 1, 0, 9), LogSpan("a", 0, 3, 7)]
    manifest = {"log": log_of(spans)}
    assert [(s["topic"], s["partition"]) for s in manifest["log"]] == [("a", 0), ("b", 1)]
    assert log_bounds(manifest).spans == {"a": {0: (3, 7)}, "b": {1: (0, 9)}}


def test_known_on_a_day_means_before_the_next_midnight_in_sweden() -> None:
    assert known_until(date(2027, 1, 31)).astimezone(UTC) == datetime(2027, 1, 31, 23, tzinfo=UTC)
    assert known_until(date(2027, 6, 30)).astimezone(UTC) == datetime(2027, 6, 30, 22, tzinfo=UTC)


def test_the_digest_changes_with_anything_the_provenance_says() -> None:
    manifest = {"as_of": "2027-04-30", "files": {"a.csv": "1"}}
    digest = manifest_digest(manifest)
    assert manifest_digest({**manifest, "digest": "whatever"}) == digest
    assert manifest_digest({**manifest, "files": {"a.csv": "2"}}) != digest
