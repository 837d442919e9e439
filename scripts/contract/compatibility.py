"""Whether the event types as the code now defines them still honour the published versions.

The baseline is the committed docs/contract/schemas: what consumers and producers outside Insats
were promised. A published version may change only additively:

breaking (needs a new version published beside the old one)
- an event type removed
- a field removed
- a field's type changed, in either direction (a string that may now be null breaks a consumer as
  much as a number that became a string), including its format (date -> date-time)
- an enum narrowed (a value removed), or an enum or a constant put on a free value
- a constant changed (e.g. the envelope's specversion)
- a field newly required, new or existing: publishers of inbound events would be rejected
- a constraint tightened on an event outside systems publish (an inbound one): a pattern added
  or changed, a minimum raised, a maximum lowered, unknown properties forbidden; their
  publishers would be rejected
- a default changed: a publisher that leaves the field out would mean something else

additive (keeps the version)
- a new event type
- a new optional field
- an enum widened (consumers must treat a value they do not know as "other")
- a constraint loosened, a field made optional, a constant lifted
- a constraint tightened on an event only Insats publishes: its consumers receive a subset of
  what they were promised

Descriptions, titles and examples never matter.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]

# Bounds where a larger number accepts less, and where a larger one accepts more.
_LOWER_BOUNDS = (
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
    "formatMinimum",  # dates, compared as ISO strings
)
_UPPER_BOUNDS = (
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
    "formatMaximum",
)
_NOT_THERE = object()


@dataclass(frozen=True, order=True)
class Change:
    event_type: str
    path: str
    kind: str
    breaking: bool
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.event_type} {self.path}".rstrip()
        severity = "BREAKING" if self.breaking else "additive"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{severity}: {where}: {self.kind}{detail}"


def compare(
    baseline: Mapping[str, Schema],
    current: Mapping[str, Schema],
    published_only: Collection[str] = (),
) -> list[Change]:
    """Every difference between the published schemas and the current ones that matters to a
    consumer or producer, breaking or not, sorted. `published_only` names the event types only
    Insats publishes (no outside system does): tightening their constraints breaks no one."""
    changes: list[Change] = []
    for event_type in sorted(set(baseline) | set(current)):
        if event_type not in current:
            changes.append(Change(event_type, "", "event type removed", breaking=True))
        elif event_type not in baseline:
            changes.append(Change(event_type, "", "new event type", breaking=False))
        else:
            walker = _Walker(
                event_type,
                baseline[event_type],
                current[event_type],
                tightening_breaks=event_type not in published_only,
            )
            changes.extend(walker.run())
    return sorted(changes)


def breaking_changes(changes: list[Change]) -> list[Change]:
    return [change for change in changes if change.breaking]


class _Walker:
    def __init__(
        self, event_type: str, old_root: Schema, new_root: Schema, *, tightening_breaks: bool
    ) -> None:
        self.event_type = event_type
        self.old_root = old_root
        self.new_root = new_root
        self.tightening_breaks = tightening_breaks
        self._seen: set[tuple[int, int]] = set()

    def run(self) -> list[Change]:
        return list(self._compare("", self.old_root, self.new_root))

    def _change(self, path: str, kind: str, breaking: bool, detail: str = "") -> Change:
        return Change(self.event_type, path, kind, breaking, detail)

    # --- references and unions ----------------------------------------------------------------

    def _resolve(self, root: Schema, node: Schema) -> Schema:
        """Follow local $refs; keywords beside a $ref (a field's default) apply as well."""
        hops = 0
        while isinstance(node.get("$ref"), str):
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            node = {**target, **siblings}
            hops += 1
            if hops > 50:
                raise ValueError(f"reference cycle at {node.get('$ref')}")
        if len(node.get("allOf", [])) == 1:
            rest = {key: value for key, value in node.items() if key != "allOf"}
            return self._resolve(root, {**node["allOf"][0], **rest})
        return node

    def _branches(self, root: Schema, node: Schema) -> list[Schema]:
        node = self._resolve(root, node)
        for keyword in ("anyOf", "oneOf"):
            if keyword in node:
                found: list[Schema] = []
                for branch in node[keyword]:
                    found.extend(self._branches(root, branch))
                return found
        return [node]

    # --- comparing ----------------------------------------------------------------------------

    def _compare(self, path: str, old: Schema, new: Schema) -> Iterator[Change]:
        pair = (id(old), id(new))
        if pair in self._seen:  # recursive models: each pair of nodes once
            return
        self._seen.add(pair)
        old_branches = self._branches(self.old_root, old)
        new_branches = self._branches(self.new_root, new)
        old_types = _types_of(old_branches)
        new_types = _types_of(new_branches)
        if old_types != new_types:
            yield self._change(
                path,
                "field retyped",
                breaking=True,
                detail=f"{_show(old_types)} -> {_show(new_types)}",
            )
            return
        for json_type in sorted(old_types):
            old_of_type = [b for b in old_branches if json_type in _types_of([b])]
            new_of_type = [b for b in new_branches if json_type in _types_of([b])]
            if len(old_of_type) == 1 and len(new_of_type) == 1:
                yield from self._compare_branch(path, old_of_type[0], new_of_type[0])

    def _compare_branch(self, path: str, old: Schema, new: Schema) -> Iterator[Change]:
        yield from self._compare_values(path, old, new)
        yield from self._compare_constraints(path, old, new)
        if "object" in _types_of([old]):
            yield from self._compare_objects(path, old, new)
        if "array" in _types_of([old]) and "items" in old and "items" in new:
            yield from self._compare(f"{path}[]", old["items"], new["items"])

    def _compare_values(self, path: str, old: Schema, new: Schema) -> Iterator[Change]:
        if old.get("format") != new.get("format"):
            yield self._change(
                path,
                "field retyped",
                breaking=True,
                detail=f"format {old.get('format')} -> {new.get('format')}",
            )
        old_const = old.get("const", _NOT_THERE)
        new_const = new.get("const", _NOT_THERE)
        if old_const is not _NOT_THERE and new_const is not _NOT_THERE:
            if old_const != new_const:
                yield self._change(
                    path, "constant changed", breaking=True, detail=f"{old_const} -> {new_const}"
                )
            return
        old_values = _allowed_values(old)
        new_values = _allowed_values(new)
        if old_values is None and new_values is not None:
            yield self._change(path, "enum narrowed", breaking=True, detail="values now restricted")
        elif old_values is not None and new_values is None:
            yield self._change(path, "enum widened", breaking=False, detail="any value now")
        elif old_values is not None and new_values is not None:
            removed = [value for value in old_values if value not in new_values]
            added = [value for value in new_values if value not in old_values]
            if removed:
                yield self._change(
                    path, "enum narrowed", breaking=True, detail=f"removed {_show(removed)}"
                )
            if added:
                yield self._change(
                    path, "enum widened", breaking=False, detail=f"added {_show(added)}"
                )

    def _compare_constraints(self, path: str, old: Schema, new: Schema) -> Iterator[Change]:
        if old.get("pattern") != new.get("pattern"):
            loosened = "pattern" not in new
            yield self._change(
                path,
                "constraint loosened" if loosened else "constraint tightened",
                breaking=not loosened and self.tightening_breaks,
                detail=f"pattern {old.get('pattern')} -> {new.get('pattern')}",
            )
        for keyword in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            lower = keyword in _LOWER_BOUNDS
            if after is None:
                tightened = False
            elif before is None:
                tightened = True
            else:
                tightened = after > before if lower else after < before
            yield self._change(
                path,
                "constraint tightened" if tightened else "constraint loosened",
                breaking=tightened and self.tightening_breaks,
                detail=f"{keyword} {before} -> {after}",
            )
        if old.get("additionalProperties", True) is not False and (
            new.get("additionalProperties", True) is False
        ):
            yield self._change(
                path,
                "constraint tightened",
                breaking=self.tightening_breaks,
                detail="unknown fields now forbidden",
            )

    def _compare_objects(self, path: str, old: Schema, new: Schema) -> Iterator[Change]:
        old_properties: dict[str, Schema] = old.get("properties", {})
        new_properties: dict[str, Schema] = new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        for name in sorted(set(old_properties) | set(new_properties)):
            where = f"{path}.{name}" if path else name
            if name not in new_properties:
                yield self._change(where, "field removed", breaking=True)
                continue
            if name in new_required and name not in old_required:
                yield self._change(where, "field newly required", breaking=True)
            elif name not in old_properties:
                yield self._change(where, "new optional field", breaking=False)
            elif name in old_required and name not in new_required:
                yield self._change(where, "field made optional", breaking=False)
            if name not in old_properties:
                continue
            old_field = self._resolve(self.old_root, old_properties[name])
            new_field = self._resolve(self.new_root, new_properties[name])
            old_default = old_field.get("default", _NOT_THERE)
            new_default = new_field.get("default", _NOT_THERE)
            if _NOT_THERE not in (old_default, new_default) and old_default != new_default:
                yield self._change(
                    where,
                    "default changed",
                    breaking=True,
                    detail=f"{old_default} -> {new_default}",
                )
            yield from self._compare(where, old_properties[name], new_properties[name])


def _types_of(branches: list[Schema]) -> frozenset[str]:
    found: set[str] = set()
    for branch in branches:
        declared = branch.get("type")
        if isinstance(declared, str):
            found.add(declared)
        elif isinstance(declared, list):
            found.update(str(item) for item in declared)
        elif "const" in branch:
            found.add(_json_type(branch["const"]))
        elif "enum" in branch:
            found.update(_json_type(value) for value in branch["enum"])
        elif "properties" in branch:
            found.add("object")
        elif "items" in branch:
            found.add("array")
        else:
            found.add("any")
    return frozenset(found)


_JSON_TYPES: tuple[tuple[type[Any], str], ...] = (
    (bool, "boolean"),  # before int: a bool is an int in Python
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "object")


def _allowed_values(schema: Schema) -> list[Any] | None:
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def _show(values: Any) -> str:
    return ", ".join(str(value) for value in sorted(values, key=str)) or "nothing"
