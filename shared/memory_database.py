"""A service database held in memory, with the few MongoDB operations the stores use.

For folding a long history fast. On the local stack's database server an upsert of an existing
document costs about nine plain inserts and a transaction's commit dominates small batches, so a
rebuild that replays history through the service's transactions pays that per event. Folded
here instead, through the very same handlers and batch consumer, the read models are written to
the server once at the end with plain bulk inserts, the cheapest thing it does.

Only what the stores use is implemented: equality, `$in`, `$lt`/`$lte`/`$gt`/`$gte`/`$ne`,
`$or`/`$and` in filters; `$set`, `$setOnInsert`, `$unset`, `$inc`, `$min`, `$max` and upserts in
updates; single-field indexes for lookups. Anything else raises NotImplementedError instead of
silently differing from MongoDB; tests/integration/test_memory_database.py applies the same
operations here and on the real server and compares the documents.

A transaction keeps an undo log, so a failed batch leaves nothing behind and the batch consumer
can retry it message by message, as it does on the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, TypeVar, cast

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from shared.persistence import Document, OutboxRecord, ServiceDatabase, Transaction
from shared.settings import Settings

T = TypeVar("T")
_MISSING: Any = object()


# --- values: copying and BSON's order -----------------------------------------------------------


def _copy(value: Any) -> Any:
    """Documents own their values: nothing a caller keeps may change them afterwards."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


# BSON's comparison order of types (bool before int: it is a subclass of int in Python).
_TYPE_RANKS: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (bool, 8),
    ((int, float), 2),
    (str, 3),
    (dict, 4),
    (list, 5),
    (bytes, 6),
    (ObjectId, 7),
    (datetime, 9),
)


def _type_rank(value: Any) -> int:
    if value is None:
        return 1
    for kind, rank in _TYPE_RANKS:
        if isinstance(value, kind):
            return rank
    raise NotImplementedError(f"comparing values of type {type(value).__name__}")


def _order(a: Any, b: Any) -> int:
    """-1, 0 or 1 as MongoDB orders two values ($min, $max, sorting)."""
    ra, rb = _type_rank(a), _type_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra in (4, 5):
        raise NotImplementedError("ordering objects or arrays")
    if a == b:
        return 0
    return -1 if a < b else 1


def _same(a: Any, b: Any) -> bool:
    """Equality as in a filter: booleans are not numbers, numbers of any kind are equal by value."""
    if a is _MISSING or b is _MISSING:
        return False
    if a is None or b is None:
        return a is b
    return _type_rank(a) == _type_rank(b) and bool(a == b)


# --- filters --------------------------------------------------------------------------------------


def _lookup(document: Mapping[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            if isinstance(node, list):
                raise NotImplementedError(f"paths into arrays ({path})")
            return _MISSING
        node = node[part]
    return node


def _is_operator_condition(condition: Any) -> bool:
    return isinstance(condition, dict) and bool(condition) and all(k[:1] == "$" for k in condition)


def _candidates(value: Any) -> list[Any]:
    """A field matches a condition on its value or, for an array, on any of its elements."""
    return [value, *value] if isinstance(value, list) else [value]


def _in(value: Any, argument: Any) -> bool:
    if value is _MISSING:
        return any(a is None for a in argument)
    return any(_same(v, a) for v in _candidates(value) for a in argument)


_RANGES = {"$lt": (-1,), "$lte": (-1, 0), "$gt": (1,), "$gte": (0, 1)}


def _in_range(operator: str, value: Any, argument: Any) -> bool:
    if value is _MISSING:
        return False
    wanted = _RANGES[operator]
    # Range queries match only values of the argument's type (type bracketing).
    return any(
        _type_rank(v) == _type_rank(argument) and _order(v, argument) in wanted
        for v in _candidates(value)
    )


class _Strings(frozenset[str]):
    """An $in of strings only, as a set: a string equals only a string under _same, so
    membership is the same test, without comparing each document with every value."""


def _compiled(query: Mapping[str, Any]) -> dict[str, Any]:
    """The filter with each $in of strings as a set, for matching many documents."""
    compiled: dict[str, Any] = {}
    for key, condition in query.items():
        if key in ("$or", "$and"):
            compiled[key] = [_compiled(part) for part in condition]
        elif _is_operator_condition(condition) and _all_strings(condition.get("$in")):
            compiled[key] = {**condition, "$in": _Strings(condition["$in"])}
        else:
            compiled[key] = condition
    return compiled


def _all_strings(argument: Any) -> bool:
    return isinstance(argument, list) and all(isinstance(a, str) for a in argument)


def _compare(operator: str, value: Any, argument: Any) -> bool:
    if operator == "$in" and isinstance(argument, _Strings):
        return any(isinstance(v, str) and v in argument for v in _candidates(value))
    if operator == "$in":
        return _in(value, argument)
    if operator == "$nin":
        return not _in(value, argument)
    if operator == "$ne":
        return not _in(value, [argument])
    if operator == "$exists":
        return (value is not _MISSING) == bool(argument)
    if operator in _RANGES:
        return _in_range(operator, value, argument)
    raise NotImplementedError(f"query operator {operator}")


def _field_matches(document: Mapping[str, Any], path: str, condition: Any) -> bool:
    value = _lookup(document, path)
    if _is_operator_condition(condition):
        return all(_compare(op, value, arg) for op, arg in condition.items())
    if isinstance(condition, dict | list):
        raise NotImplementedError(f"matching whole objects or arrays ({path})")
    if condition is None:
        return value is _MISSING or value is None
    return any(_same(v, condition) for v in _candidates(value))


def matches(document: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Whether `document` matches the filter `query`."""
    for key, condition in query.items():
        if key == "$or":
            found = any(matches(document, part) for part in condition)
        elif key == "$and":
            found = all(matches(document, part) for part in condition)
        elif key[:1] == "$":
            raise NotImplementedError(f"query operator {key}")
        else:
            found = _field_matches(document, key, condition)
        if not found:
            return False
    return True


# --- updates --------------------------------------------------------------------------------------

_UPDATE_OPERATORS = ("$set", "$setOnInsert", "$unset", "$inc", "$min", "$max")


def _parent(document: Document, path: str, copied: set[str]) -> tuple[dict[str, Any], str]:
    """The object holding the last part of `path`, created where missing and copied on first
    write, so the document before the update stays as it was (the undo log keeps it)."""
    parts = path.split(".")
    node = document
    prefix = ""
    for part in parts[:-1]:
        prefix = f"{prefix}.{part}" if prefix else part
        child = node.get(part, _MISSING)
        if child is _MISSING:
            child = {}
        elif not isinstance(child, dict):
            raise NotImplementedError(f"writing into a non-object at {prefix}")
        elif prefix not in copied:
            child = dict(child)
        copied.add(prefix)
        node[part] = child
        node = child
    return node, parts[-1]


def _apply_operator(parent: dict[str, Any], leaf: str, operator: str, argument: Any) -> None:
    current = parent.get(leaf, _MISSING)
    if operator in ("$set", "$setOnInsert"):
        parent[leaf] = _copy(argument)
    elif operator == "$unset":
        parent.pop(leaf, None)
    elif operator == "$inc":
        if current is not _MISSING and _type_rank(current) != _type_rank(0):
            raise NotImplementedError(f"$inc of a non-number ({leaf})")
        parent[leaf] = argument if current is _MISSING else current + argument
    elif (
        current is _MISSING  # $min and $max set a missing field
        or (operator == "$min" and _order(argument, current) < 0)
        or (operator == "$max" and _order(argument, current) > 0)
    ):
        parent[leaf] = _copy(argument)


def _refuse_conflicts(paths: list[str]) -> None:
    """As the server: one update may not write a path twice, or a path and a part of it."""
    ordered = sorted(paths)
    for shorter, longer in pairwise(ordered):
        if longer == shorter or longer.startswith(f"{shorter}."):
            raise WriteError(f"Updating the path '{longer}' would create a conflict", 40)


def apply_update(document: Document, update: Mapping[str, Any], *, inserting: bool) -> Document:
    """The document after `update`; `document` itself is left untouched."""
    unknown = [key for key in update if key not in _UPDATE_OPERATORS]
    if not update or unknown:
        raise NotImplementedError(f"update operators {unknown or 'none'}")
    _refuse_conflicts([path for fields in update.values() for path in fields])
    result = dict(document)
    copied: set[str] = set()
    for operator, fields in update.items():
        if operator == "$setOnInsert" and not inserting:
            continue
        for path, argument in fields.items():
            if path == "_id" and not _same(result.get("_id", argument), argument):
                raise NotImplementedError("changing a document's _id")
            parent, leaf = _parent(result, path, copied)
            _apply_operator(parent, leaf, operator, argument)
    return result


def _seed_of_upsert(query: Mapping[str, Any]) -> Document:
    """What an upsert copies from its filter into the new document: its plain equalities."""
    seed: Document = {}
    for key, condition in query.items():
        if key[:1] == "$" or _is_operator_condition(condition):
            continue
        if "." in key:
            raise NotImplementedError(f"upserting with a dotted equality ({key})")
        seed[key] = _copy(condition)
    return seed


# --- results --------------------------------------------------------------------------------------


@dataclass
class UpdateResult:
    matched_count: int = 0
    modified_count: int = 0
    upserted_id: Any = None


@dataclass
class DeleteResult:
    deleted_count: int = 0


@dataclass
class BulkResult:
    inserted_count: int = 0
    matched_count: int = 0
    modified_count: int = 0
    deleted_count: int = 0
    upserted_count: int = 0


@dataclass
class InsertManyResult:
    inserted_ids: list[Any]


class _BulkRecorder:
    """Receives pymongo's write models through the protocol its own bulk writer uses
    (`_add_to_bulk`), so every kind of model is read the way pymongo reads it."""

    def __init__(self) -> None:
        self.operations: list[tuple[str, tuple[Any, ...]]] = []

    def add_insert(self, document: Document) -> None:
        self.operations.append(("insert", (document,)))

    def add_update(
        self, selector: Mapping[str, Any], update: Any, multi: bool, upsert: bool, **options: Any
    ) -> None:
        _refuse_options(options)
        self.operations.append(("update", (selector, update, multi, upsert)))

    def add_replace(
        self, selector: Mapping[str, Any], replacement: Any, upsert: bool, **options: Any
    ) -> None:
        raise NotImplementedError("ReplaceOne")

    def add_delete(self, selector: Mapping[str, Any], limit: int, **options: Any) -> None:
        _refuse_options(options)
        self.operations.append(("delete", (selector, limit)))


def _refuse_options(options: Mapping[str, Any]) -> None:
    used = [name for name, value in options.items() if value is not None]
    if used:
        raise NotImplementedError(f"write options {used}")


# --- collections ----------------------------------------------------------------------------------


class MemoryCursor:
    def __init__(self, documents: list[Document]) -> None:
        self._documents = documents
        self._limit = 0

    def sort(self, key: str, direction: int = 1) -> MemoryCursor:
        if not isinstance(key, str):
            raise NotImplementedError("sorting on several keys")

        def rank(document: Document) -> Any:
            return _SortKey(_lookup(document, key))

        self._documents.sort(key=rank, reverse=direction < 0)
        return self

    def limit(self, count: int) -> MemoryCursor:
        self._limit = count
        return self

    def _selected(self) -> list[Document]:
        return self._documents[: self._limit] if self._limit else self._documents

    async def to_list(self, length: int | None = None) -> list[Document]:
        found = self._selected()
        return found[:length] if length else found

    async def __aiter__(self) -> AsyncIterator[Document]:
        for document in self._selected():
            yield document


class _SortKey:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = None if value is _MISSING else value

    def __lt__(self, other: _SortKey) -> bool:
        return _order(self.value, other.value) < 0


class MemoryCollection:
    """Documents by _id, single-field indexes, and the operations the stores call."""

    def __init__(self, name: str, database: MemoryDatabase) -> None:
        self.name = name
        self._database = database
        self._documents: dict[Any, Document] = {}
        # When each document was inserted: index lookups answer in insertion order, as a scan.
        self._born: dict[Any, int] = {}
        self._births = 0
        self._indexes: dict[str, dict[Any, set[Any]]] = {}

    def __len__(self) -> int:
        return len(self._documents)

    def __contains__(self, key: object) -> bool:
        """Whether a document has the _id `key`."""
        return key in self._documents

    def documents(self) -> Iterator[Document]:
        """Every document, in insertion order, as stored (not copied: for writing them out)."""
        return iter(self._documents.values())

    # --- storage, indexes and the undo log

    def _put(self, key: Any, document: Document | None) -> None:
        previous = self._documents.get(key)
        self._database.remember(self, key, previous)
        for field, index in self._indexes.items():
            if previous is not None:
                for value in _index_values(previous, field):
                    index.get(value, set()).discard(key)
            if document is not None:
                for value in _index_values(document, field):
                    index.setdefault(value, set()).add(key)
        if document is None:
            self._documents.pop(key, None)
            self._born.pop(key, None)
        else:
            if previous is None:
                self._births += 1
                self._born[key] = self._births
            self._documents[key] = document

    def restore(self, key: Any, document: Document | None) -> None:
        """Undo: put back what was there before the failed transaction."""
        self._put(key, document)

    def _keys_for(self, query: Mapping[str, Any]) -> Iterable[Any]:
        """The ids worth testing against `query`: from _id or an index where the filter allows."""
        for field in ("_id", *self._indexes):
            condition = query.get(field, _MISSING)
            if condition is _MISSING:
                continue
            if _is_operator_condition(condition):
                if set(condition) != {"$in"}:
                    continue
                wanted = list(condition["$in"])
            elif isinstance(condition, dict | list) or condition is None:
                continue
            else:
                wanted = [condition]
            if field == "_id":
                return [
                    key for key in dict.fromkeys(_hashable(w) for w in wanted) if key is not None
                ]
            index = self._indexes[field]
            keys: dict[Any, None] = {}
            for value in wanted:
                for key in index.get(_hashable(value), ()):
                    keys[key] = None
            return list(keys)
        return list(self._documents)

    def _find(self, query: Mapping[str, Any]) -> list[Any]:
        found = []
        compiled = _compiled(query)
        for key in self._keys_for(query):
            document = self._documents.get(key)
            if document is not None and matches(document, compiled):
                found.append(key)
        found.sort(key=self._born.__getitem__)
        return found

    # --- the operations

    async def create_index(self, keys: Any, **options: Any) -> str:
        field = keys if isinstance(keys, str) else keys[0][0]
        if field != "_id" and field not in self._indexes:
            index: dict[Any, set[Any]] = {}
            for key, document in self._documents.items():
                for value in _index_values(document, field):
                    index.setdefault(value, set()).add(key)
            self._indexes[field] = index
        return f"{field}_1"

    async def insert_one(self, document: Document, session: Any = None) -> Any:
        self._insert(document, 0)
        return document["_id"]

    async def insert_many(
        self, documents: Iterable[Document], ordered: bool = True, session: Any = None
    ) -> InsertManyResult:
        ids = []
        for position, document in enumerate(documents):
            self._insert(document, position)
            ids.append(document["_id"])
        return InsertManyResult(ids)

    def _insert(self, document: Document, position: int) -> None:
        stored = _copy(document)
        if "_id" not in stored:
            document["_id"] = stored["_id"] = ObjectId()  # as pymongo does, on the caller's too
            stored = {"_id": stored.pop("_id"), **stored}
        key = _hashable(stored["_id"])
        if key in self._documents:
            message = f"E11000 duplicate key error collection: {self.name} dup key: {key!r}"
            if position:
                raise BulkWriteError(
                    {
                        "writeErrors": [{"index": position, "code": 11000, "errmsg": message}],
                        "nInserted": position,
                    }
                )
            raise DuplicateKeyError(message, 11000)
        self._put(key, stored)

    async def update_one(
        self,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        upsert: bool = False,
        session: Any = None,
    ) -> UpdateResult:
        return self._update(query, update, multi=False, upsert=upsert)

    async def update_many(
        self,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        upsert: bool = False,
        session: Any = None,
    ) -> UpdateResult:
        return self._update(query, update, multi=True, upsert=upsert)

    def _update(
        self, query: Mapping[str, Any], update: Mapping[str, Any], *, multi: bool, upsert: bool
    ) -> UpdateResult:
        keys = self._find(query)
        if not multi:
            keys = keys[:1]
        result = UpdateResult(matched_count=len(keys))
        for key in keys:
            before = self._documents[key]
            after = apply_update(before, update, inserting=False)
            if after != before:
                self._put(key, after)
                result.modified_count += 1
        if not keys and upsert:
            seed = _seed_of_upsert(query)
            created = apply_update(seed, update, inserting=True)
            if "_id" not in created:
                created["_id"] = ObjectId()
            created = {"_id": created.pop("_id"), **created}
            self._put(_hashable(created["_id"]), created)
            result.upserted_id = created["_id"]
        return result

    async def delete_one(self, query: Mapping[str, Any], session: Any = None) -> DeleteResult:
        return self._delete(query, limit=1)

    async def delete_many(self, query: Mapping[str, Any], session: Any = None) -> DeleteResult:
        return self._delete(query, limit=0)

    def _delete(self, query: Mapping[str, Any], *, limit: int) -> DeleteResult:
        keys = self._find(query)
        if limit:
            keys = keys[:limit]
        for key in keys:
            self._put(key, None)
        return DeleteResult(len(keys))

    async def bulk_write(
        self, requests: Iterable[Any], ordered: bool = True, session: Any = None
    ) -> BulkResult:
        recorder = _BulkRecorder()
        for request in requests:
            request._add_to_bulk(recorder)
        result = BulkResult()
        for position, (kind, arguments) in enumerate(recorder.operations):
            if kind == "insert":
                self._insert(arguments[0], position)
                result.inserted_count += 1
            elif kind == "update":
                query, update, multi, upsert = arguments
                if not isinstance(update, Mapping):
                    raise NotImplementedError("update pipelines")
                outcome = self._update(query, update, multi=multi, upsert=upsert)
                result.matched_count += outcome.matched_count
                result.modified_count += outcome.modified_count
                result.upserted_count += outcome.upserted_id is not None
            else:
                query, limit = arguments
                result.deleted_count += self._delete(query, limit=limit).deleted_count
        return result

    def find(
        self,
        query: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | None = None,
        session: Any = None,
    ) -> MemoryCursor:
        query = query or {}
        return MemoryCursor(
            [_project(self._documents[key], projection) for key in self._find(query)]
        )

    async def find_one(
        self,
        query: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | None = None,
        session: Any = None,
    ) -> Document | None:
        found = await self.find(query, projection).limit(1).to_list()
        return found[0] if found else None

    async def count_documents(self, query: Mapping[str, Any], session: Any = None) -> int:
        return len(self._find(query))


def _hashable(value: Any) -> Any:
    if isinstance(value, dict | list):
        raise NotImplementedError("objects or arrays as _id or indexed values")
    return value


def _index_values(document: Document, field: str) -> list[Any]:
    value = _lookup(document, field)
    if value is _MISSING:
        return [None]
    return [_hashable(v) for v in value] if isinstance(value, list) else [value]


def _project(document: Document, projection: Mapping[str, Any] | None) -> Document:
    if not projection:
        whole: Document = _copy(document)
        return whole
    included = [field for field, wanted in projection.items() if wanted]
    if len(included) != len(projection) and set(projection) - set(included) != {"_id"}:
        raise NotImplementedError("exclusion projections")
    fields = [field for field in included if "." not in field]
    if len(fields) != len(included):
        raise NotImplementedError("projections of dotted paths")
    keep_id = projection.get("_id", 1)
    result = {"_id": document["_id"]} if keep_id else {}
    result.update({f: _copy(document[f]) for f in fields if f in document and f != "_id"})
    return result


# --- the database --------------------------------------------------------------------------------


class MemoryDatabase:
    """A service's database in memory: its collections, inbox and outbox, and transactions that
    apply a batch's changes, inbox ids and outbox records all or nothing."""

    def __init__(
        self,
        settings: Settings,
        service: str,
        *,
        keep: Callable[[OutboxRecord], bool] = lambda record: True,
    ) -> None:
        """`keep` chooses the outbox records worth holding: a rebuild, which publishes nothing,
        keeps only its dead letters instead of a copy of every event it re-derives."""
        self.settings = settings
        self.service = service
        self._keep = keep
        self._collections: dict[str, MemoryCollection] = {}
        self._undo: list[tuple[MemoryCollection, Any, Document | None]] | None = None
        # Handlers never wait on anything here, but the consumer may run transactions side by
        # side (message by message after a failed batch): one at a time keeps the undo log whole.
        self._lock = asyncio.Lock()
        self.inbox = self.memory_collection("inbox")
        self.outbox = self.memory_collection("outbox")

    async def purge_unsent(self, needles: Iterable[str], session: Any) -> int:
        """Nothing held here is ever sent: a fold publishes nothing."""
        return 0

    def memory_collection(self, name: str) -> MemoryCollection:
        if name not in self._collections:
            self._collections[name] = MemoryCollection(name, self)
        return self._collections[name]

    def collection(self, name: str) -> AsyncCollection[Document]:
        # Stores are typed against pymongo's collection; this offers the part of it they use, and
        # refuses the rest (module docstring), which the conformance test holds to the server.
        return cast("AsyncCollection[Document]", self.memory_collection(name))

    def remember(self, collection: MemoryCollection, key: Any, previous: Document | None) -> None:
        if self._undo is not None:
            self._undo.append((collection, key, previous))

    async def already_applied(self, ids: list[str]) -> set[str]:
        return {i for i in ids if i in self.inbox}

    async def in_transaction(
        self, work: Callable[[Transaction], Awaitable[T]], now: datetime | None = None
    ) -> T:
        async with self._lock:
            undo: list[tuple[MemoryCollection, Any, Document | None]] = []
            self._undo = undo
            tx = Transaction(session=None, settings=self.settings, now=now or datetime.now(UTC))
            try:
                result = await work(tx)
                if tx.applied_ids:
                    await self.inbox.insert_many(tx.inbox_documents())
                # Audit entries of a rebuild are not kept: the live service wrote them when it
                # first refused the inputs.
                kept = [record.to_document(tx.now) for record in tx.outgoing if self._keep(record)]
                if kept:
                    await self.outbox.insert_many(kept)
            except BaseException:
                self._undo = None
                for collection, key, previous in reversed(undo):
                    collection.restore(key, previous)
                raise
            finally:
                self._undo = None
            return result

    async def write_to(
        self, target: ServiceDatabase, names: Iterable[str], *, chunk: int = 1_000
    ) -> dict[str, int]:
        """Insert the collections `names` into the (empty) database `target`, in bulk."""
        written: dict[str, int] = {}
        for name in names:
            collection = self._collections.get(name)
            if collection is None or not len(collection):
                continue
            documents = list(collection.documents())
            for start in range(0, len(documents), chunk):
                await target.collection(name).insert_many(
                    documents[start : start + chunk], ordered=False
                )
            written[name] = len(documents)
        return written
