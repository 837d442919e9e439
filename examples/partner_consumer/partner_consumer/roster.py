"""The partner's own store, in SQLite: the current placements at our workplaces, the ids of the
events already applied, the reports waiting to be sent, and what we could not read.

One transaction holds a roster change, its event id and the reports it causes, so a crash
leaves either all of them or none; Kafka's offset is committed only after that transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS placements (
    placement_id      TEXT PRIMARY KEY,
    participant_id    TEXT,            -- only when the participant consented to sharing
    status            TEXT NOT NULL,
    workplace_id      TEXT,
    activity          TEXT,
    hours_per_week    INTEGER,
    start_date        TEXT,
    end_date          TEXT,
    municipal_contact TEXT,
    updated_at        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applied_events (
    event_id   TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    event_id   TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL UNIQUE,   -- e.g. "<placement>/acceptera": each report exists once
    topic      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at    TEXT
);
CREATE TABLE IF NOT EXISTS rejected (
    coordinates TEXT PRIMARY KEY,      -- topic/partition/offset
    reason      TEXT NOT NULL,
    value       BLOB,
    rejected_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Placement:
    placement_id: str
    participant_id: str | None
    status: str
    workplace_id: str | None
    activity: str | None
    hours_per_week: int | None
    start_date: str | None
    end_date: str | None
    municipal_contact: str | None


@dataclass(frozen=True)
class Outgoing:
    event_id: str
    topic: str
    key: str
    value: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Roster:
    def __init__(self, path: Path) -> None:
        # Autocommit mode, so that transactions are exactly where `transaction()` says.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        # The consumer and the attendance command may use the file at the same time.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA synchronous=FULL")  # committed means on disk
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- inside a transaction --------------------------------------------------------------

    def already_applied(self, event_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM applied_events WHERE event_id = ?", (event_id,))
        return row.fetchone() is not None

    def mark_applied(self, event_id: str, event_type: str) -> None:
        self._db.execute(
            "INSERT INTO applied_events (event_id, type, applied_at) VALUES (?, ?, ?)",
            (event_id, event_type, _now()),
        )

    def apply(self, update: dict[str, Any]) -> Placement | None:
        """Store the placement as Insats now describes it. Updates of one placement share a key,
        hence a partition, and arrive in order: the latest one is the truth."""
        if update.get("status") is None:
            # Withdrawn: the person was erased. Keep nothing that points at them.
            self._db.execute(
                "DELETE FROM placements WHERE placement_id = ?", (update["placement_id"],)
            )
            self._db.execute(
                "DELETE FROM outbox WHERE substr(purpose, 1, ?) = ?",
                (len(update["placement_id"]) + 1, update["placement_id"] + "/"),
            )
            return None
        placement = Placement(
            placement_id=update["placement_id"],
            participant_id=update.get("participant_id"),
            status=update["status"],
            workplace_id=update.get("workplace_id"),
            activity=update.get("activity"),
            hours_per_week=update.get("hours_per_week"),
            start_date=update.get("start_date"),
            end_date=update.get("end_date"),
            municipal_contact=update.get("municipal_contact"),
        )
        self._db.execute(
            "INSERT OR REPLACE INTO placements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                placement.placement_id,
                placement.participant_id,
                placement.status,
                placement.workplace_id,
                placement.activity,
                placement.hours_per_week,
                placement.start_date,
                placement.end_date,
                placement.municipal_contact,
                _now(),
            ),
        )
        return placement

    def queue(self, purpose: str, topic: str, event: dict[str, Any]) -> bool:
        """Keep a report to send after the transaction; False if this purpose was queued before
        (the event id stays the one first stored, so a resend is recognised by Insats)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO outbox (event_id, purpose, topic, key, value, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event["id"], purpose, topic, event["subject"], json.dumps(event), _now()),
        )
        return cursor.rowcount == 1

    def reject(self, coordinates: str, reason: str, value: bytes | None) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?)",
            (coordinates, reason, value, _now()),
        )

    # --- outside a transaction -------------------------------------------------------------

    def placements(self) -> list[Placement]:
        rows = self._db.execute(
            "SELECT placement_id, participant_id, status, workplace_id, activity, hours_per_week,"
            " start_date, end_date, municipal_contact FROM placements ORDER BY placement_id"
        )
        return [Placement(**dict(row)) for row in rows]

    def unsent(self) -> list[Outgoing]:
        rows = self._db.execute(
            "SELECT event_id, topic, key, value FROM outbox WHERE sent_at IS NULL ORDER BY rowid"
        )
        return [Outgoing(**dict(row)) for row in rows]

    def mark_sent(self, event_id: str) -> None:
        self._db.execute("UPDATE outbox SET sent_at = ? WHERE event_id = ?", (_now(), event_id))
