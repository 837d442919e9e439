"""What a partner reports back on insats.partner.reports, built by hand as JSON envelopes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from partner_consumer.contract import ATTENDANCE_REPORTED, CHANGE_REPORTED
from partner_consumer.roster import Placement

# What the demo's AUTO_ACCEPT does on each status: accept an offer, then start what is accepted.
AUTO_STEPS = {"erbjuden": "acceptera", "accepterad": "starta"}


def envelope(
    event_type: str,
    data: dict[str, Any],
    *,
    source: str,
    cause: dict[str, Any] | None = None,
) -> dict[str, Any]:
    # Reports are keyed by the participant, or by the placement when we were not told who it
    # is (no consent to sharing): the record key is the envelope's subject.
    subject = data.get("participant_id") or data["placement_id"]
    event: dict[str, Any] = {
        "specversion": "1.0",
        # New for each fact; stored in the outbox with the report, so a resend keeps it.
        "id": str(uuid.uuid4()),
        "type": event_type,
        "source": source,
        "time": datetime.now(UTC).isoformat(),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }
    if cause is not None:
        # Ties our answer to the update that prompted it, in Insats's logs and traces.
        event["correlationid"] = cause.get("correlationid") or cause["id"]
        event["causationid"] = cause["id"]
    return event


def change_reported(
    placement: Placement,
    action: str,
    on: date,
    *,
    reported_by: str,
    source: str,
    cause: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return envelope(
        CHANGE_REPORTED,
        {
            "placement_id": placement.placement_id,
            **_participant(placement),
            "action": action,
            "on": on.isoformat(),
            "reported_by": reported_by,
        },
        source=source,
        cause=cause,
    )


def attendance_reported(
    placement: Placement,
    period_start: date,
    period_end: date,
    expected_hours: float,
    attended_hours: float,
    *,
    source: str,
) -> dict[str, Any]:
    return envelope(
        ATTENDANCE_REPORTED,
        {
            "placement_id": placement.placement_id,
            **_participant(placement),
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "expected_hours": expected_hours,
            "attended_hours": attended_hours,
        },
        source=source,
    )


def _participant(placement: Placement) -> dict[str, str]:
    """The participant's id if our stream told us; Insats finds them by the placement if not."""
    return {"participant_id": placement.participant_id} if placement.participant_id else {}
