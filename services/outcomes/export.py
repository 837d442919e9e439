"""The funder report and the IOP evaluation as files: CSV (one table per file) and one Excel
workbook per programme. Small groups are hidden as everywhere ("dolt")."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from services.outcomes.esf_plus import COLUMNS as ESF_PLUS_COLUMNS
from services.outcomes.indicators import Cell, IndicatorResult
from services.outcomes.kolada import KoladaRow
from services.outcomes.overview import CountTable, ProgrammeOverview
from services.outcomes.presentation import (
    DIMENSION_LABELS,
    HIDDEN,
    HIDDEN_NOTE,
    goal_text,
    group_label,
    verdict_text,
)
from services.outcomes.safe_files import file_stem, for_worksheet, inside, neutralised

Row = Sequence[object]


def _figures(cell: Cell) -> list[object]:
    """value, numerator, denominator; hidden cells show nothing of either."""
    if cell.suppressed:
        return [HIDDEN, HIDDEN, HIDDEN]
    value = cell.value
    return [
        "" if value.value is None else round(value.value, 4),
        "" if value.numerator is None else value.numerator,
        "" if value.denominator is None else value.denominator,
    ]


def indicator_rows(view: ProgrammeOverview) -> list[Row]:
    ctx = view.context
    head: list[object] = [
        view.programme.programme_id,
        ctx.period_start.isoformat(),
        ctx.period_end.isoformat(),
        ctx.as_of.isoformat(),
    ]
    rows: list[Row] = []
    for result in view.indicators:
        definition = result.indicator
        common = [*head, definition.name, definition.title, definition.unit]
        rows.append(
            [*common, "total", "", *_figures(result.total), goal_text(result), verdict_text(result)]
        )
        for dimension, cells in result.breakdown.items():
            for cell in cells:
                rows.append(
                    [
                        *common,
                        DIMENSION_LABELS[dimension],
                        group_label(dimension, cell.group, view.partner_names),
                        *_figures(cell),
                        "",
                        "",
                    ]
                )
    return rows


INDICATOR_HEADER = [
    "program",
    "period_fran",
    "period_till",
    "per_datum",
    "indikator",
    "namn",
    "enhet",
    "dimension",
    "grupp",
    "varde",
    "taljare",
    "namnare",
    "mal",
    "bedomning",
]


def participant_rows(table: CountTable) -> list[Row]:
    rows: list[Row] = []
    for row in table.rows:
        shown = [table.shown(row, column) for column in table.columns]
        rows.append([table.title, row, *(HIDDEN if n is None else n for n in shown)])
    return rows


def partner_rows(view: ProgrammeOverview) -> list[Row]:
    rows: list[Row] = []
    for item in view.partners:
        used, people, syss = item.utilisation, item.participants, item.sysselsattning
        rows.append(
            [
                view.programme.programme_id,
                item.partner.partner_id,
                item.partner.name,
                item.partner.kind or "",
                ", ".join(a.kind.value for a in item.agreements),
                item.places_offered,
                HIDDEN if used.suppressed else _round(used.value.value),
                HIDDEN if people.suppressed else people.value.numerator,
                HIDDEN if syss.suppressed else _round(syss.value.value),
                " | ".join(a.evaluation_plan for a in item.agreements if a.evaluation_plan),
            ]
        )
    return rows


PARTNER_HEADER = [
    "program",
    "partner_id",
    "partner",
    "slag",
    "avtal",
    "platser",
    "platsutnyttjande",
    "deltagare",
    "sysselsattning_vid_avslut",
    "utvarderingsplan",
]


def contribution_rows(view: ProgrammeOverview) -> list[Row]:
    return [
        [
            view.programme.programme_id,
            item.partner.name,
            c.party,
            c.kind.value,
            "" if c.amount is None else c.amount,
            c.description,
        ]
        for item in view.partners
        for c in item.contributions
    ]


CONTRIBUTION_HEADER = ["program", "partner", "part", "slag", "belopp", "beskrivning"]
ESF_PLUS_HEADER = ["program", "typ", "indikator", *ESF_PLUS_COLUMNS, "anmarkning"]


MONEY_HEADER = ["program", "avsnitt", "post", "varde", "jamforelse", "anmarkning"]


def money_rows(view: ProgrammeOverview) -> list[Row]:
    """Budget and funding, costs by period, each party's contributions committed and
    delivered, cost per participant and per outcome, and IOP agreements lacking co-financing."""
    m, pid = view.money, view.programme.programme_id
    if m is None:
        return []
    rows: list[Row] = []
    if m.budget_sek is not None:
        rows.append([pid, "budget", "total", _round(m.budget_sek), "", "SEK"])
        for f in m.funding:
            rows.append(
                [
                    pid,
                    "finansiering",
                    f.funder,
                    _round(f.amount_sek),
                    _round(f.share),
                    f.funder_id or "",
                ]
            )
        if m.unfunded_share > 0:
            rows.append(
                [
                    pid,
                    "finansiering",
                    "ej finansierat",
                    _round(m.unfunded_share * m.budget_sek),
                    _round(m.unfunded_share),
                    "",
                ]
            )
    for cost in m.costs:
        period = f"{cost.period_start.isoformat()}--{cost.period_end.isoformat()}"
        rows.append(
            [
                pid,
                "kostnad",
                f"{period} {cost.category.value}",
                _round(cost.amount_sek),
                "",
                cost.note,
            ]
        )
    used = m.total_cost_sek / m.budget_sek if m.budget_sek else None
    rows.append(
        [pid, "kostnad", "summa", _round(m.total_cost_sek), _round(used), "andel av budget"]
    )
    for c in m.contributions:
        rows.append(
            [
                pid,
                "insats",
                f"{c.name} {c.kind.value}",
                _round(c.committed),
                _round(c.delivered),
                c.party,
            ]
        )
    rows.append(
        [
            pid,
            "nyckeltal",
            "kostnad per deltagare",
            _round(m.cost_per_participant),
            m.participants,
            "deltagare",
        ]
    )
    rows.append(
        [
            pid,
            "nyckeltal",
            "kostnad per deltagare i arbete eller studier vid avslut",
            _round(m.cost_per_outcome),
            m.outcomes,
            "deltagare",
        ]
    )
    for agreement_id, parties in m.lacking_co_financing:
        rows.append([pid, "samfinansiering", agreement_id, "saknas", "", " ".join(parties)])
    return rows


def esf_plus_rows_out(view: ProgrammeOverview) -> list[Row]:
    rows: list[Row] = []
    for row in view.esf_plus:
        if row.counts is None:
            cells: list[object] = [""] * len(ESF_PLUS_COLUMNS)
        else:
            cells = [HIDDEN if c in row.hidden else row.counts[c] for c in ESF_PLUS_COLUMNS]
        rows.append([view.programme.programme_id, row.kind, row.indicator, *cells, row.note])
    return rows


def _round(value: float | None) -> object:
    return "" if value is None else round(value, 4)


def write_csv(path: Path, header: Row, rows: Iterable[Row]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralised(v) for v in header])
        writer.writerows([neutralised(v) for v in row] for row in rows)
    return path


def _append(sheet: Any, row: Row) -> None:
    sheet.append([for_worksheet(v) for v in row])
    for cell in sheet[sheet.max_row]:
        # openpyxl stores any text that starts with "=" as a formula; quoted, it is text.
        if isinstance(cell.value, str):
            cell.data_type = "s"


def write_sheet(workbook: Workbook, title: str, header: Row, rows: Iterable[Row]) -> None:
    sheet = workbook.create_sheet(title)
    _append(sheet, header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        _append(sheet, row)


def _definitions(results: Sequence[IndicatorResult]) -> list[Row]:
    return [
        [d.name, d.title, d.definition, d.numerator, d.denominator]
        for d in (r.indicator for r in results)
    ]


def export_programme(view: ProgrammeOverview, out: Path) -> list[Path]:
    """Writes <programme>-deltagare.csv, -indikatorer.csv, -iop.csv, -bidrag.csv,
    -esf-plus.csv, -ekonomi.csv and .xlsx."""
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(view.programme.programme_id)
    columns = ["tabell", "kon", *view.started.columns]
    participants = participant_rows(view.started) + participant_rows(view.exited)
    written = [
        write_csv(inside(out, f"{stem}-deltagare.csv"), columns, participants),
        write_csv(inside(out, f"{stem}-indikatorer.csv"), INDICATOR_HEADER, indicator_rows(view)),
        write_csv(inside(out, f"{stem}-iop.csv"), PARTNER_HEADER, partner_rows(view)),
        write_csv(inside(out, f"{stem}-bidrag.csv"), CONTRIBUTION_HEADER, contribution_rows(view)),
        write_csv(inside(out, f"{stem}-esf-plus.csv"), ESF_PLUS_HEADER, esf_plus_rows_out(view)),
        write_csv(inside(out, f"{stem}-ekonomi.csv"), MONEY_HEADER, money_rows(view)),
    ]
    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = "Oversikt"
    ctx, programme = view.context, view.programme
    for row in (
        ["program", programme.name],
        ["agare", programme.owner],
        ["period", f"{ctx.period_start} - {ctx.period_end}"],
        ["per datum", ctx.as_of.isoformat()],
        ["planerade deltagare", programme.planned_participants],
        ["kapacitet (platser)", programme.capacity],
        [view.headline.indicator.name, *_figures(view.headline.total)],
        ["mal", goal_text(view.headline)],
        ["bedomning", verdict_text(view.headline)],
        ["anmarkning", HIDDEN_NOTE],
    ):
        _append(summary, row)
    write_sheet(workbook, "Deltagare", columns, participants)
    write_sheet(workbook, "Indikatorer", INDICATOR_HEADER, indicator_rows(view))
    write_sheet(workbook, "IOP-utvardering", PARTNER_HEADER, partner_rows(view))
    write_sheet(workbook, "Bidrag", CONTRIBUTION_HEADER, contribution_rows(view))
    write_sheet(workbook, "ESF+", ESF_PLUS_HEADER, esf_plus_rows_out(view))
    write_sheet(workbook, "Ekonomi", MONEY_HEADER, money_rows(view))
    write_sheet(
        workbook,
        "Definitioner",
        ["indikator", "namn", "definition", "taljare", "namnare"],
        _definitions(view.indicators),
    )
    workbook_path = inside(out, f"{stem}.xlsx")
    workbook.save(workbook_path)
    return [*written, workbook_path]


def zipped_export(view: ProgrammeOverview) -> bytes:
    """export_programme's files as one zip archive, for a download."""
    with tempfile.TemporaryDirectory() as folder:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in export_programme(view, Path(folder)):
                archive.write(path, path.name)
        return buffer.getvalue()


KOLADA_HEADER = ["kommun", "ar", "omfattning", "avslutade", "resultat", "andel"]


def kolada_file_name(year: int) -> str:
    return f"kolada-resultat-vid-avslut-{year}.csv"


def export_kolada(rows: Sequence[KoladaRow], year: int, out: Path) -> Path:
    """Kolada's annual figure per municipality, across programmes and per programme; a figure
    resting on fewer than five people is hidden."""
    out.mkdir(parents=True, exist_ok=True)
    return write_csv(
        inside(out, kolada_file_name(year)),
        KOLADA_HEADER,
        [
            [r.municipality, r.year, r.scope, HIDDEN, HIDDEN, HIDDEN]
            if r.suppressed
            else [r.municipality, r.year, r.scope, r.exited, r.results, _round(r.share)]
            for r in rows
        ],
    )
