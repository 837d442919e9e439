"""What an erased person's journey keeps: everything the indicators count, nothing that any
record still on a topic could be joined with.

Placement, plan-step and support-task ids stand beside the participant's (old) id on placement
events, partners' reports and the partners' and municipalities' streams until retention deletes
them, so an anonymous journey that kept them could be linked back to the pseudonym. They are
replaced by their order: the same order the journey had, so every figure comes out the same.
"""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]


def anonymous_journey(doc: Doc, participant: str, journey_key: str) -> Doc:
    """The journey document under a new id and participant, with every id of another record
    replaced by its place in order."""
    steps = _step_names(doc)
    placements = {
        f"p{n:04d}": {**value, "plan_step_id": steps.get(value.get("plan_step_id"))}
        for n, (_, value) in enumerate(sorted((doc.get("placements") or {}).items()))
    }
    plan_steps = [
        {**step, "step_id": steps[step["step_id"]]} for step in doc.get("plan_steps") or ()
    ]
    # Hours are keyed "<day>_<placement id>": kept by day and order only.
    hours = {
        f"{key.split('_', 1)[0]}_{n}": value
        for n, (key, value) in enumerate(sorted((doc.get("hours") or {}).items()))
    }
    support_tasks = {
        f"t{n}": day for n, day in enumerate(sorted((doc.get("support_tasks") or {}).values()))
    }
    anonymous = {
        **doc,
        "_id": journey_key,
        "participant_id": participant,
        "hours": hours,
        "support_tasks": support_tasks,
    }
    if "placements" in doc:
        anonymous["placements"] = placements
    if "plan_steps" in doc:
        anonymous["plan_steps"] = plan_steps
    return anonymous


def _step_names(doc: Doc) -> dict[Any, str]:
    """Each plan step id, in the plan's order, then each step a placement names that the latest
    plan no longer has, by its new name; a placement of no step keeps none."""
    names: dict[Any, str] = {}
    for step in doc.get("plan_steps") or ():
        names.setdefault(step["step_id"], f"s{len(names)}")
    for _, value in sorted((doc.get("placements") or {}).items()):
        step_id = value.get("plan_step_id")
        if step_id is not None:
            names.setdefault(step_id, f"s{len(names)}")
    names.pop(None, None)
    return names
