"""Reports anyone can re-run and verify.

A funder's report is computed from the event log, not from the live read models: the log is
replayed into a fresh database (as a rebuild does) and the files are written from that. Beside
the files goes `<programme>-kalla.json`, which says what they were computed from (each topic
partition's offset range, the indicator versions, the as-of day, the period, and the day whose
knowledge the report holds) and the digest of every file. `verify` replays exactly those offsets
again, recomputes the files and compares: a file edited since, or a figure the same history no
longer gives, is named.

"As known on" a day: only records stamped before the end of that day (Swedish time) are read, so
a report re-issued later gives what was submitted then, however many late answers arrived since.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final

from openpyxl import load_workbook

from services.outcomes import scb, sus
from services.outcomes.domain import Journey
from services.outcomes.export import export_kolada, export_programme
from services.outcomes.indicators import Indicator, lookup
from services.outcomes.kolada import KoladaRow, municipal_results
from services.outcomes.overview import ProgrammeOverview
from services.outcomes.rebuild import LogBounds, rebuild
from services.outcomes.reports import programme_overviews
from services.outcomes.safe_files import file_stem, inside
from services.outcomes.store import OutcomesStore
from shared.business_day import SWEDEN
from shared.messaging.kafka import LogSpan
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings

FORMAT: Final = "insats.report-provenance.v1"
MANIFEST_SUFFIX: Final = "-kalla.json"


class HistoryIncomplete(RuntimeError):
    """Retention has deleted records of outcomes' input topics."""


@dataclass(frozen=True)
class ReportRequest:
    as_of: date
    programme_ids: Sequence[str] | None = None
    period: tuple[date, date] | None = None
    # What was known then: only records stamped before this moment (see `known_until`).
    known_before: datetime | None = None
    definitions: Sequence[Indicator] | None = None
    # The programmes' own reports (of `programme_ids`, or all); and Kolada's figure for a year.
    programmes: bool = True
    kolada_year: int | None = None


def known_until(day: date) -> datetime:
    """The first moment after `day` in Sweden: records stamped before it were known on `day`."""
    return datetime.combine(day + timedelta(days=1), time(), SWEDEN)


def file_digest(path: Path) -> str:
    """A CSV's bytes; a workbook's cell values sheet by sheet (its zip carries the time it was
    written, which is not part of what it says)."""
    if path.suffix != ".xlsx":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    workbook = load_workbook(path, read_only=True)
    content = [
        [sheet.title, [[_json_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]]
        for sheet in workbook.worksheets
    ]
    workbook.close()
    return hashlib.sha256(_canonical(content)).hexdigest()


def _json_cell(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        _canonical({k: v for k, v in manifest.items() if k != "digest"})
    ).hexdigest()


@dataclass(frozen=True)
class Computed:
    spans: list[LogSpan]
    views: list[ProgrammeOverview]
    kolada: list[KoladaRow] | None


def require_whole(spans: Sequence[LogSpan]) -> None:
    """Refuse a report from a log that retention has cut: it would leave people out."""
    if gone := sorted({f"{s.topic}[{s.partition}]" for s in spans if s.start > 0}):
        raise HistoryIncomplete(
            "the event log no longer holds all of outcomes' history ("
            + ", ".join(gone)
            + "): a report computed from it would leave people out"
        )


@asynccontextmanager
async def replayed(settings: Settings, bounds: LogBounds) -> AsyncIterator[Replayed]:
    """Outcomes' read models as the log within `bounds` gives them, in a database of their own
    that is dropped afterwards, and what of the log was read."""
    database = f"report_{uuid.uuid4().hex[:12]}"
    result = await rebuild(settings, database=database, bounds=bounds)
    client = mongo_client(settings)
    try:
        yield Replayed(OutcomesStore(ServiceDatabase(client, settings, database)), result.spans)
    finally:
        await client.drop_database(result.database)
        await client.close()


@dataclass(frozen=True)
class Replayed:
    store: OutcomesStore
    spans: list[LogSpan]

    def require_whole(self) -> None:
        require_whole(self.spans)

    async def journeys(self, programme_id: str | None = None) -> list[Journey]:
        """One programme's journeys, or every programme's."""
        if programme_id is not None:
            return await self.store.journeys_of(programme_id)
        return [
            journey
            for programme in await self.store.programme_definitions()
            for journey in await self.store.journeys_of(programme.programme_id)
        ]


async def _computed(settings: Settings, request: ReportRequest, bounds: LogBounds) -> Computed:
    """What the log within `bounds` gives, and what of the log was read."""
    async with replayed(settings, bounds) as log:
        views = (
            await programme_overviews(
                log.store,
                request.as_of,
                programme_ids=request.programme_ids,
                period=request.period,
                definitions=request.definitions,
            )
            if request.programmes
            else []
        )
        kolada = None
        if request.kolada_year is not None:
            kolada = municipal_results(await log.journeys(), request.kolada_year, request.as_of)
    return Computed(log.spans, views, kolada)


def log_bounds(manifest: Mapping[str, Any]) -> LogBounds:
    """Exactly the records a provenance file says its report was computed from."""
    spans: dict[str, dict[int, tuple[int, int]]] = {}
    for span in manifest["log"]:
        spans.setdefault(span["topic"], {})[int(span["partition"])] = (
            int(span["start"]),
            int(span["end"]),
        )
    return LogBounds(spans=spans)


def sealed(manifest: dict[str, Any]) -> str:
    """The manifest as written, with its digest."""
    manifest["digest"] = manifest_digest(manifest)
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def log_of(spans: list[LogSpan]) -> list[dict[str, Any]]:
    return [
        {"topic": s.topic, "partition": s.partition, "start": s.start, "end": s.end}
        for s in sorted(spans, key=lambda s: (s.topic, s.partition))
    ]


def _manifest(
    view: ProgrammeOverview, request: ReportRequest, spans: list[LogSpan]
) -> dict[str, Any]:
    ctx = view.context
    return {
        "format": FORMAT,
        "report": "programme",
        "programme_id": view.programme.programme_id,
        "as_of": ctx.as_of.isoformat(),
        "period": [ctx.period_start.isoformat(), ctx.period_end.isoformat()],
        "period_requested": request.period is not None,
        "known_before": request.known_before.isoformat() if request.known_before else None,
        "indicators": [result.indicator.name for result in view.indicators],
        "log": log_of(spans),
    }


async def export_verifiable(settings: Settings, out: Path, request: ReportRequest) -> list[Path]:
    """Write each programme's report files, computed from the log, and their provenance."""
    bounds = LogBounds(before=request.known_before)
    computed = await _computed(settings, request, bounds)
    spans = computed.spans
    require_whole(spans)
    written: list[Path] = []
    for view in computed.views:
        written += await asyncio.to_thread(_write, view, out, request, spans)
    if computed.kolada is not None and request.kolada_year is not None:
        written += await asyncio.to_thread(
            _write_kolada, computed.kolada, request.kolada_year, out, request, spans
        )
    return written


def _write_kolada(
    rows: list[KoladaRow], year: int, out: Path, request: ReportRequest, spans: list[LogSpan]
) -> list[Path]:
    written = export_kolada(rows, year, out)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "report": "kolada",
        "year": year,
        "as_of": request.as_of.isoformat(),
        "known_before": request.known_before.isoformat() if request.known_before else None,
        "log": log_of(spans),
        "files": {written.name: file_digest(written)},
    }
    manifest["digest"] = manifest_digest(manifest)
    path = inside(out, f"kolada-{year}{MANIFEST_SUFFIX}")
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return [written, path]


def _write(
    view: ProgrammeOverview, out: Path, request: ReportRequest, spans: list[LogSpan]
) -> list[Path]:
    files = export_programme(view, out)
    manifest = _manifest(view, request, spans)
    manifest["files"] = {path.name: file_digest(path) for path in files}
    manifest["digest"] = manifest_digest(manifest)
    path = inside(out, f"{file_stem(view.programme.programme_id)}{MANIFEST_SUFFIX}")
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return [*files, path]


@dataclass(frozen=True)
class FileCheck:
    name: str
    recorded: str
    on_disk: str | None  # None: the file is not beside the manifest
    recomputed: str | None  # None: the same history no longer gives such a file
    # A file with identities (SCB, SUS) is compared by its pseudonymous content only: its
    # identities are not read again to verify it, and its bytes are not digested.
    identified: bool = False

    @property
    def edited(self) -> bool:
        return not self.identified and self.on_disk != self.recorded

    @property
    def reproduced(self) -> bool:
        return self.recomputed == self.recorded


@dataclass(frozen=True)
class Verification:
    manifest_intact: bool
    files: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        return self.manifest_intact and all(not f.edited and f.reproduced for f in self.files)


async def verify(settings: Settings, manifest_path: Path) -> Verification:
    """Recompute the report the manifest describes from the very records it names, and compare
    digests: of the files beside it, and of the recomputed ones."""
    manifest = json.loads(await asyncio.to_thread(manifest_path.read_text, "utf-8"))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_path} is not a report provenance file ({FORMAT})")
    if manifest.get("report") in IDENTIFIED:
        return await _verify_identified(settings, manifest)
    as_of = date.fromisoformat(manifest["as_of"])
    if manifest.get("report") == "kolada":
        request = ReportRequest(as_of=as_of, programmes=False, kolada_year=int(manifest["year"]))
    else:
        period = tuple(date.fromisoformat(d) for d in manifest["period"])
        request = ReportRequest(
            as_of=as_of,
            programme_ids=[manifest["programme_id"]],
            period=(period[0], period[1]) if manifest.get("period_requested") else None,
            definitions=[lookup(name) for name in manifest["indicators"]],
        )
    computed = await _computed(settings, request, log_bounds(manifest))
    return await asyncio.to_thread(_check, manifest, manifest_path.parent, computed, request)


def _check(
    manifest: Mapping[str, Any], folder: Path, computed: Computed, request: ReportRequest
) -> Verification:
    recomputed: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for view in computed.views:
            for path in export_programme(view, Path(scratch)):
                recomputed[path.name] = file_digest(path)
        if computed.kolada is not None and request.kolada_year is not None:
            path = export_kolada(computed.kolada, request.kolada_year, Path(scratch))
            recomputed[path.name] = file_digest(path)
    checks = []
    for name, recorded in sorted(manifest["files"].items()):
        beside = folder / name
        checks.append(
            FileCheck(
                name=name,
                recorded=recorded,
                on_disk=file_digest(beside) if beside.is_file() else None,
                recomputed=recomputed.get(name),
            )
        )
    return Verification(
        manifest_intact=manifest.get("digest") == manifest_digest(manifest),
        files=tuple(checks),
    )


IDENTIFIED: Final = frozenset({"scb", "sus"})


async def _verify_identified(settings: Settings, manifest: Mapping[str, Any]) -> Verification:
    """An SCB or SUS file, by what it says about the participants (pseudonymously), from the
    records its provenance names."""
    programme_id = str(manifest["programme_id"])
    async with replayed(settings, log_bounds(manifest)) as log:
        journeys = await log.journeys(programme_id if manifest["report"] == "scb" else None)
    recomputed: dict[str, str] = {}
    if manifest["report"] == "scb":
        months = scb.monthly_rows(scb.participations(journeys, programme_id), manifest["through"])
        recomputed = {
            scb.file_name(programme_id, m): scb.month_digest(r) for m, r in months.items()
        }
    else:
        start, end = (date.fromisoformat(d) for d in manifest["period"])
        rows = sus.sus_rows(journeys, programme_id, (start, end))
        recomputed = {sus.file_name(programme_id): sus.rows_digest(rows)}
    return Verification(
        manifest_intact=manifest.get("digest") == manifest_digest(manifest),
        files=tuple(
            FileCheck(name, recorded, recorded, recomputed.get(name), identified=True)
            for name, recorded in sorted(manifest["contents"].items())
        ),
    )
