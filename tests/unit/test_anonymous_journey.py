"""An erased person's journey keeps what the indicators count and no id that records on topics
carry beside the old participant id."""

from __future__ import annotations

import json
from typing import Any

from services.outcomes.anonymous import anonymous_journey
from services.outcomes.store import journey_from_document

PLACEMENTS = ("pl-7f3a", "pl-02c9")
STEPS = ("steg-karin-arbetstraning", "steg-karin-praktik", "steg-karin-gammal")


def _journey() -> dict[str, Any]:
    return {
        "_id": "halmstad-150:p-5b1e",
        "programme_id": "halmstad-150",
        "participant_id": "p-5b1e",
        "participation": 1,
        "enrolled": True,
        "referral_date": "2026-03-02",
        "placements": {
            PLACEMENTS[0]: {
                "partner_id": "erikshjalpen",
                "activity": "arbetstraning",
                "start_date": "2026-03-11",
                "end_date": "2026-06-01",
                "end_reason": "till_arbete",
                "plan_step_id": STEPS[0],
            },
            PLACEMENTS[1]: {
                "partner_id": "postnord",
                "activity": "praktik",
                "start_date": "2026-06-02",
                # A step the latest revision of the plan no longer has.
                "plan_step_id": STEPS[2],
            },
        },
        "plan_steps": [
            {"step_id": STEPS[0], "kind": "placering", "status": "planerat"},
            {"step_id": STEPS[1], "kind": "placering", "status": "planerat"},
        ],
        "hours": {f"2026-03-11_{PLACEMENTS[0]}": 20, f"2026-06-02_{PLACEMENTS[1]}": 30},
        "support_tasks": {"task-91d2": "2026-04-01"},
    }


def test_no_placement_step_or_task_id_is_kept() -> None:
    kept = json.dumps(anonymous_journey(_journey(), "erased-1", "halmstad-150:erased-1"))

    for link in (*PLACEMENTS, *STEPS, "task-91d2", "p-5b1e"):
        assert link not in kept


def test_the_journey_counts_as_before() -> None:
    before = journey_from_document(_journey())
    after = journey_from_document(anonymous_journey(_journey(), "erased-1", "halmstad-150:e"))

    assert [step.status for step in after.plan_steps] == [step.status for step in before.plan_steps]
    assert [after.step_status(s) for s in after.plan_steps] == [
        before.step_status(s) for s in before.plan_steps
    ]
    assert after.hours == before.hours
    assert after.support_tasks == before.support_tasks
    assert after.first_placement == before.first_placement
    strip = [
        (p.partner_id, p.activity, p.start_date, p.end_date, p.end_reason) for p in after.placements
    ]
    assert strip == [
        (p.partner_id, p.activity, p.start_date, p.end_date, p.end_reason)
        for p in before.placements
    ]


def test_placements_of_one_step_still_share_it_and_others_stay_apart() -> None:
    after = anonymous_journey(_journey(), "erased-1", "halmstad-150:erased-1")

    # In the order of their old ids: pl-02c9 (a step the plan dropped), then pl-7f3a.
    dropped, first = (p["plan_step_id"] for p in after["placements"].values())
    assert first == after["plan_steps"][0]["step_id"]
    assert dropped not in {step["step_id"] for step in after["plan_steps"]}
    assert dropped is not None
