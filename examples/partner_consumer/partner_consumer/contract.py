"""The published JSON Schemas (one per event type, the whole envelope) and checking events
against them: what arrives before it touches the roster, what we send before it leaves."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

PLACEMENT_UPDATED = "insats.partner-placement.updated.v1"
# What Insats answers on the same topic when it refuses something the partner sent.
INPUT_REJECTED = "insats.input.rejected.v1"
CHANGE_REPORTED = "insats.placement.change-reported.v1"
ATTENDANCE_REPORTED = "insats.attendance.reported.v1"

USED_TYPES = (PLACEMENT_UPDATED, CHANGE_REPORTED, ATTENDANCE_REPORTED)


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    """Why the event does not match its schema; empty when it does."""
    unknown_values: list[str] = field(default_factory=list)
    """Enum values newer than our copy of the schema: Insats adds them without a new version."""

    @property
    def ok(self) -> bool:
        return not self.problems


class Contract:
    def __init__(self, directory: Path, types: Iterable[str] = USED_TYPES) -> None:
        self._validators: dict[str, Draft202012Validator] = {}
        for event_type in types:
            path = directory / f"{event_type}.json"
            if not path.is_file():
                raise SystemExit(f"no schema {path}: set INSATS_SCHEMAS to a schema directory")
            schema = json.loads(path.read_text(encoding="utf-8"))
            self._validators[event_type] = Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )

    def check(self, event: dict[str, Any]) -> Verdict:
        validator = self._validators.get(str(event.get("type")))
        if validator is None:
            return Verdict(problems=[f"no schema for type {event.get('type')!r}"])
        verdict = Verdict()
        for error in validator.iter_errors(event):
            where = "/".join(str(part) for part in error.absolute_path) or "(envelope)"
            if _only_an_unknown_value(error):
                verdict.unknown_values.append(f"{where}: {error.instance!r}")
            else:
                verdict.problems.append(f"{where}: {error.message}")
        return verdict

    def require(self, event: dict[str, Any]) -> None:
        """For what we publish ourselves: a mismatch is a bug here, not bad input."""
        verdict = self.check(event)
        if not verdict.ok:
            raise ValueError(f"{event.get('type')} does not match its schema: {verdict.problems}")


def _only_an_unknown_value(error: ValidationError) -> bool:
    """True when the value has the right type but is not (yet) in our copy's enum. Readers must
    treat such a value as "other" rather than refuse the event (docs/contract/README.md)."""
    if error.validator == "enum":
        return isinstance(error.instance, str)
    if error.validator in {"anyOf", "oneOf"}:
        # Nullable enums are anyOf[enum, null]: fine if some branch failed only on the enum.
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context or ():
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        return any(all(map(_only_an_unknown_value, errs)) for errs in branches.values())
    return False
