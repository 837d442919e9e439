"""The outcomes dashboard: HTML pages with charts drawn as inline SVG on the server, so the page
needs no network, no scripts and no fonts from anywhere. Small groups are hidden as everywhere.

Python works out every figure, coordinate and label; the templates in templates/ only lay them
out, autoescaped, so a name from a municipal system cannot become markup on a funder's page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

from services.outcomes.indicators import Cell, Dimension, IndicatorResult
from services.outcomes.overview import CountTable, ProgrammeOverview
from services.outcomes.presentation import (
    DIMENSION_LABELS,
    HIDDEN,
    HIDDEN_NOTE,
    fraction,
    goal_text,
    group_label,
    number,
    percent,
    shown_value,
    verdict_text,
)

_TEMPLATES = Environment(
    loader=PackageLoader("services.outcomes", "templates"),
    autoescape=True,
    # A misspelt field fails the render instead of leaving a blank cell on a published page.
    undefined=StrictUndefined,
    # Block tags on lines of their own leave no blank lines and no stray indentation behind.
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _px(value: float) -> str:
    # A tenth of a pixel is finer than any screen shows, and keeps the SVG short.
    return f"{value:.1f}"


# --- charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str
    note: str = ""  # shown on hover, where the text must stay short


@dataclass(frozen=True)
class _Rect:
    x: str
    y: str
    width: str
    height: str


@dataclass(frozen=True)
class _BarRow:
    label: str
    y: int  # the baseline of the row's label and text
    bar: _Rect | None  # None for a hidden or empty figure, whose text stands alone, greyed
    text_x: str
    text: str


@dataclass(frozen=True)
class _BarGoal:
    x: str
    bottom: int
    text_y: int
    text: str


@dataclass(frozen=True)
class _BarChart:
    title: str
    chart_id: str
    width: int
    height: int
    label_x: int
    rows: tuple[_BarRow, ...]
    goal: _BarGoal | None


@dataclass(frozen=True)
class _Column:
    centre: float
    bar: _Rect | None  # as in _BarRow
    text_y: str
    text: str
    note: str
    label: str


@dataclass(frozen=True)
class _ColumnGoal:
    y: str
    text_x: int
    text_y: str
    text: str


@dataclass(frozen=True)
class _ColumnChart:
    title: str
    chart_id: str
    width: int
    height: int
    headroom: int
    left: int
    right: int
    axis_y: int
    label_y: int
    columns: tuple[_Column, ...]
    goal: _ColumnGoal | None


def _bar_chart(
    title: str, bars: Sequence[Bar], *, scale: float, goal: float | None, chart_id: str
) -> _BarChart:
    label_width, bar_width, row = 260, 360, 24
    height = row * len(bars) + 30
    scale = scale or 1.0
    rows = []
    for index, bar in enumerate(bars):
        y = 10 + index * row
        length = 0.0 if bar.value is None else max(0.0, min(bar.value / scale, 1.0)) * bar_width
        rect = (
            None
            if bar.value is None
            else _Rect(str(label_width), str(y + 3), _px(length), str(row - 8))
        )
        rows.append(_BarRow(bar.label, y + 15, rect, _px(label_width + length + 6), bar.text))
    marker = None
    if goal is not None:
        x = _px(label_width + min(goal / scale, 1.0) * bar_width)
        marker = _BarGoal(x, height - 18, height - 4, percent(goal))
    return _BarChart(
        title=title,
        chart_id=chart_id,
        width=label_width + bar_width + 90,
        height=height,
        label_x=label_width - 8,
        rows=tuple(rows),
        goal=marker,
    )


def bar_chart(
    title: str, bars: Sequence[Bar], *, scale: float, goal: float | None = None, chart_id: str = ""
) -> str:
    """Horizontal bars; a bar without a value (hidden or empty) shows its text alone."""
    chart = _bar_chart(title, bars, scale=scale, goal=goal, chart_id=chart_id)
    return _TEMPLATES.get_template("bar_chart.html").render(chart=chart)


def _column_chart(
    title: str, columns: Sequence[Bar], *, scale: float, goal: float | None, chart_id: str
) -> _ColumnChart:
    plot_height, column, left, headroom = 180, 56, 40, 20
    width = left + column * max(len(columns), 1) + 20
    scale = scale or 1.0
    laid_out = []
    for index, bar in enumerate(columns):
        x = left + index * column
        rect = None
        top: float = plot_height + 4
        if bar.value is not None:
            size = max(0.0, min(bar.value / scale, 1.0)) * plot_height
            rect = _Rect(str(x + 8), _px(plot_height + 10 - size), str(column - 16), _px(size))
            top -= size
        laid_out.append(_Column(x + column / 2, rect, _px(top), bar.text, bar.note, bar.label))
    marker = None
    if goal is not None:
        y = plot_height + 10 - min(goal / scale, 1.0) * plot_height
        marker = _ColumnGoal(_px(y), left - 4, _px(y + 4), percent(goal))
    return _ColumnChart(
        title=title,
        chart_id=chart_id,
        width=width,
        height=plot_height + 60 + headroom,
        headroom=headroom,
        left=left,
        right=width - 10,
        axis_y=plot_height + 10,
        label_y=plot_height + 28,
        columns=tuple(laid_out),
        goal=marker,
    )


def column_chart(
    title: str, columns: Sequence[Bar], *, scale: float, goal: float | None, chart_id: str
) -> str:
    """Vertical bars over time, with the goal as a dashed line."""
    chart = _column_chart(title, columns, scale=scale, goal=goal, chart_id=chart_id)
    return _TEMPLATES.get_template("column_chart.html").render(chart=chart)


def _share_bar(label: str, cell: Cell) -> Bar:
    if cell.suppressed:
        return Bar(label, None, HIDDEN)
    if cell.value.value is None:
        return Bar(label, None, "-")
    return Bar(label, cell.value.value, f"{percent(cell.value.value)} ({fraction(cell)})")


# --- sections ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    css: str
    goal_met: str
    title: str
    value: str
    fraction: str
    goal: str
    verdict: str


@dataclass(frozen=True)
class _IndicatorRow:
    name: str
    title: str
    value: str
    fraction: str
    goal: str
    verdict: str
    hidden: bool


@dataclass(frozen=True)
class _GroupRow:
    group: str
    label: str
    value: str
    fraction: str
    hidden: bool


@dataclass(frozen=True)
class _Breakdown:
    key: str
    dimension: str
    rows: tuple[_GroupRow, ...]


@dataclass(frozen=True)
class _IndicatorDetails:
    name: str
    title: str
    definition: str
    numerator: str
    denominator: str
    breakdowns: tuple[_Breakdown, ...]


@dataclass(frozen=True)
class _Count:
    text: str
    hidden: bool


@dataclass(frozen=True)
class _CountRow:
    label: str
    cells: tuple[_Count, ...]


@dataclass(frozen=True)
class _CountTable:
    title: str
    columns: tuple[str, ...]
    rows: tuple[_CountRow, ...]


@dataclass(frozen=True)
class _PartnerRow:
    partner_id: str
    name: str
    places: int
    utilisation: str
    participants: str
    sysselsattning: str
    contributions: str


@dataclass(frozen=True)
class _OverdueRow:
    point: str
    label: str
    count: str


@dataclass(frozen=True)
class _ProgrammePage:
    name: str
    owner: str
    period_start: date
    period_end: date
    capacity: int
    planned_participants: int
    as_of: date
    verdict: _Verdict
    indicators: tuple[_IndicatorRow, ...]
    hidden_note: str
    funnel: _BarChart
    over_time_title: str
    over_time: _ColumnChart
    by_municipality: _BarChart | None  # None while there are no groups to compare
    by_partner: _BarChart | None
    overdue: tuple[_OverdueRow, ...]
    started: _CountTable
    exited: _CountTable
    partners: tuple[_PartnerRow, ...]
    details: tuple[_IndicatorDetails, ...]


def _verdict(result: IndicatorResult) -> _Verdict:
    met = result.goal_met
    return _Verdict(
        css="unknown" if met is None else ("met" if met else "not-met"),
        goal_met=str(met).lower(),
        title=result.indicator.title,
        value=shown_value(result.indicator, result.total),
        fraction=fraction(result.total),
        goal=goal_text(result),
        verdict=verdict_text(result),
    )


def _indicator_rows(view: ProgrammeOverview) -> tuple[_IndicatorRow, ...]:
    return tuple(
        _IndicatorRow(
            name=result.indicator.name,
            title=result.indicator.title,
            value=shown_value(result.indicator, result.total),
            fraction=fraction(result.total),
            goal=goal_text(result),
            verdict=verdict_text(result),
            hidden=result.total.suppressed,
        )
        for result in view.indicators
    )


def _details(view: ProgrammeOverview) -> tuple[_IndicatorDetails, ...]:
    return tuple(
        _IndicatorDetails(
            name=result.indicator.name,
            title=result.indicator.title,
            definition=result.indicator.definition,
            numerator=result.indicator.numerator,
            denominator=result.indicator.denominator,
            breakdowns=tuple(
                _Breakdown(
                    key=f"{result.indicator.name}:{dimension.value}",
                    dimension=DIMENSION_LABELS[dimension],
                    rows=tuple(
                        _GroupRow(
                            group=cell.group,
                            label=group_label(dimension, cell.group, view.partner_names),
                            value=shown_value(result.indicator, cell),
                            fraction=fraction(cell),
                            hidden=cell.suppressed,
                        )
                        for cell in cells
                    ),
                )
                for dimension, cells in result.breakdown.items()
            ),
        )
        for result in view.indicators
    )


def _funnel(view: ProgrammeOverview) -> _BarChart:
    top = max((s.count for s in view.funnel), default=0)
    bars = [
        Bar(
            step.label,
            None if step.suppressed else step.count,
            HIDDEN if step.suppressed else str(step.count),
        )
        for step in view.funnel
    ]
    return _bar_chart("Tratten", bars, scale=float(top or 1), goal=None, chart_id="funnel")


def _over_time(view: ProgrammeOverview) -> _ColumnChart:
    columns = [
        Bar(label, None, "-")
        if not cell.value.people
        else Bar(label, None, HIDDEN)
        if cell.suppressed
        else Bar(label, cell.value.value, percent(cell.value.value), fraction(cell))
        for label, cell in view.over_time
    ]
    return _column_chart(
        "Resultat över tid", columns, scale=1.0, goal=view.headline.goal, chart_id="over-time"
    )


def _comparison(view: ProgrammeOverview, dimension: Dimension) -> _BarChart | None:
    result = view.headline
    cells = result.breakdown.get(dimension, ())
    if not cells:
        return None
    bars = [
        _share_bar(group_label(dimension, cell.group, view.partner_names), cell) for cell in cells
    ]
    return _bar_chart(
        f"{result.indicator.title} per {DIMENSION_LABELS[dimension]}",
        bars,
        scale=1.0,
        goal=result.goal,
        chart_id=f"compare-{dimension.value}",
    )


def _count_table(table: CountTable) -> _CountTable:
    def count(row: str, column: str) -> _Count:
        shown = table.shown(row, column)
        return _Count(HIDDEN, True) if shown is None else _Count(str(shown), False)

    return _CountTable(
        title=table.title,
        columns=table.columns,
        rows=tuple(
            _CountRow(row, tuple(count(row, c) for c in table.columns)) for row in table.rows
        ),
    )


def _partners(view: ProgrammeOverview) -> tuple[_PartnerRow, ...]:
    rows = []
    for item in view.partners:
        contributions = "; ".join(
            f"{c.party}: {c.kind.value}"
            + (f" {number(c.amount)}" if c.amount is not None else "")
            + (f" ({c.description})" if c.description else "")
            for c in item.contributions
        )
        used, people, syss = item.utilisation, item.participants, item.sysselsattning
        rows.append(
            _PartnerRow(
                partner_id=item.partner.partner_id,
                name=item.partner.name,
                places=item.places_offered,
                utilisation=HIDDEN if used.suppressed else percent(used.value.value),
                participants=HIDDEN if people.suppressed else number(people.value.numerator),
                sysselsattning=HIDDEN if syss.suppressed else percent(syss.value.value),
                contributions=contributions or "-",
            )
        )
    return tuple(rows)


def _overdue(view: ProgrammeOverview) -> tuple[_OverdueRow, ...]:
    return tuple(
        _OverdueRow(
            point=item.point.value,
            label=item.point.value.replace("_", " "),
            count=HIDDEN if item.suppressed else str(item.count),
        )
        for item in view.overdue
    )


def programme_page(view: ProgrammeOverview) -> str:
    programme = view.programme
    page = _ProgrammePage(
        name=programme.name,
        owner=programme.owner,
        period_start=programme.period_start,
        period_end=programme.period_end,
        capacity=programme.capacity,
        planned_participants=programme.planned_participants,
        as_of=view.context.as_of,
        verdict=_verdict(view.headline),
        indicators=_indicator_rows(view),
        hidden_note=HIDDEN_NOTE,
        funnel=_funnel(view),
        over_time_title=view.over_time_indicator.title,
        over_time=_over_time(view),
        by_municipality=_comparison(view, Dimension.MUNICIPALITY),
        by_partner=_comparison(view, Dimension.PARTNER),
        overdue=_overdue(view),
        started=_count_table(view.started),
        exited=_count_table(view.exited),
        partners=_partners(view),
        details=_details(view),
    )
    return _TEMPLATES.get_template("programme.html").render(title=programme.name, page=page)


@dataclass(frozen=True)
class _ProgrammeRow:
    programme_id: str
    link: str
    name: str
    reached: str
    value: str
    goal: str
    verdict: str


@dataclass(frozen=True)
class _IndexPage:
    as_of: str
    programmes: tuple[_ProgrammeRow, ...]
    chart: _BarChart
    hidden_note: str


def index_page(views: Sequence[ProgrammeOverview]) -> str:
    rows = []
    bars = []
    for view in views:
        result = view.headline
        reached = next(
            (r for r in view.indicators if r.indicator.key == "deltagare_mot_plan"), None
        )
        rows.append(
            _ProgrammeRow(
                programme_id=view.programme.programme_id,
                link=f"/dashboard?programme={quote(view.programme.programme_id)}",
                name=view.programme.name,
                reached=shown_value(reached.indicator, reached.total) if reached else "-",
                value=shown_value(result.indicator, result.total),
                goal=goal_text(result),
                verdict=verdict_text(result),
            )
        )
        bars.append(_share_bar(view.programme.name, result.total))
    page = _IndexPage(
        as_of=str(views[0].context.as_of) if views else "-",
        programmes=tuple(rows),
        chart=_bar_chart(
            "Sysselsättning vid avslut per program",
            bars,
            scale=1.0,
            goal=None,
            chart_id="programmes",
        ),
        hidden_note=HIDDEN_NOTE,
    )
    return _TEMPLATES.get_template("index.html").render(title="Insats: utfall", page=page)


def page_file(programme_id: str) -> str:
    return f"{quote(programme_id, safe='')}.html"


def write_pages(views: Sequence[ProgrammeOverview], out: Path) -> list[Path]:
    """The index and every programme's page as files that open without the service (the links
    between them point at the files)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for view in views:
        path = out / page_file(view.programme.programme_id)
        html = programme_page(view).replace('href="/dashboard"', 'href="index.html"')
        path.write_text(html, encoding="utf-8")
        written.append(path)
    index = index_page(views)
    for view in views:
        pid = view.programme.programme_id
        index = index.replace(
            f'href="/dashboard?programme={quote(pid)}"', f'href="{page_file(pid)}"'
        )
    (out / "index.html").write_text(index, encoding="utf-8")
    return [out / "index.html", *written]
