"""The outcomes dashboard: HTML pages with charts drawn as inline SVG on the server, so the page
needs no network, no scripts and no fonts from anywhere. Small groups are hidden as everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

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

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f24; max-width: 72rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; font-size: 1.2rem; }
table { border-collapse: collapse; margin: 0.6rem 0; } caption { text-align: left; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.verdict { display: inline-block; padding: 0.5rem 0.9rem; border-radius: 6px; font-size: 1.1rem; }
.met { background: #dafbe1; } .not-met { background: #ffebe9; } .unknown { background: #eaeef2; }
.hidden { color: #57606a; font-style: italic; } .muted { color: #57606a; font-size: 0.9rem; }
svg text { font-family: system-ui, sans-serif; font-size: 12px; }
details { margin: 0.3rem 0; }
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="sv"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


# --- charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str
    note: str = ""  # shown on hover, where the text must stay short


def bar_chart(
    title: str, bars: Sequence[Bar], *, scale: float, goal: float | None = None, chart_id: str = ""
) -> str:
    """Horizontal bars; a bar without a value (hidden or empty) shows its text alone."""
    label_width, bar_width, row = 260, 360, 24
    height = row * len(bars) + 30
    width = label_width + bar_width + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" data-chart="{escape(chart_id)}">'
        f"<title>{escape(title)}</title>"
    ]
    scale = scale or 1.0
    for index, bar in enumerate(bars):
        y = 10 + index * row
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">{escape(bar.label)}</text>'
        )
        length = 0.0 if bar.value is None else max(0.0, min(bar.value / scale, 1.0)) * bar_width
        if bar.value is not None:
            parts.append(
                f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 8}"'
                ' fill="#2f81f7"/>'
            )
        style = ' font-style="italic" fill="#57606a"' if bar.value is None else ""
        parts.append(
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}"{style}>'
            f"{escape(bar.text)}</text>"
        )
    if goal is not None:
        x = label_width + min(goal / scale, 1.0) * bar_width
        parts.append(
            f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 18}" stroke="#cf222e"'
            ' stroke-dasharray="4 3"/>'
            f'<text x="{x:.1f}" y="{height - 4}" text-anchor="middle" fill="#cf222e">'
            f"mål {escape(percent(goal))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    title: str, columns: Sequence[Bar], *, scale: float, goal: float | None, chart_id: str
) -> str:
    """Vertical bars over time, with the goal as a dashed line."""
    plot_height, column, left, headroom = 180, 56, 40, 20
    width = left + column * max(len(columns), 1) + 20
    height = plot_height + 60 + headroom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" data-chart="{escape(chart_id)}">'
        f"<title>{escape(title)}</title>"
        # Room above the plot for the label of a full bar.
        f'<g transform="translate(0 {headroom})">'
        f'<line x1="{left}" y1="{plot_height + 10}" x2="{width - 10}" y2="{plot_height + 10}"'
        ' stroke="#8c959f"/>'
    ]
    scale = scale or 1.0
    for index, bar in enumerate(columns):
        x = left + index * column
        if bar.value is not None:
            size = max(0.0, min(bar.value / scale, 1.0)) * plot_height
            parts.append(
                f'<rect x="{x + 8}" y="{plot_height + 10 - size:.1f}" width="{column - 16}"'
                f' height="{size:.1f}" fill="#2f81f7"/>'
            )
            top = plot_height + 4 - size
        else:
            top = plot_height + 4
        style = ' font-style="italic" fill="#57606a"' if bar.value is None else ""
        note = f"<title>{escape(bar.note)}</title>" if bar.note else ""
        parts.append(
            f'<text x="{x + column / 2}" y="{top:.1f}" text-anchor="middle"{style}>'
            f"{note}{escape(bar.text)}</text>"
            f'<text x="{x + column / 2}" y="{plot_height + 28}" text-anchor="middle">'
            f"{escape(bar.label)}</text>"
        )
    if goal is not None:
        y = plot_height + 10 - min(goal / scale, 1.0) * plot_height
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#cf222e"'
            ' stroke-dasharray="4 3"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#cf222e">'
            f"{escape(percent(goal))}</text>"
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _share_bar(label: str, cell: Cell) -> Bar:
    if cell.suppressed:
        return Bar(label, None, HIDDEN)
    if cell.value.value is None:
        return Bar(label, None, "-")
    return Bar(label, cell.value.value, f"{percent(cell.value.value)} ({fraction(cell)})")


# --- sections ----------------------------------------------------------------------------------


def _verdict(result: IndicatorResult) -> str:
    met = result.goal_met
    css = "unknown" if met is None else ("met" if met else "not-met")
    value = shown_value(result.indicator, result.total)
    return (
        f'<p id="verdict" class="verdict {css}" data-goal-met="{str(met).lower()}">'
        f"{escape(result.indicator.title)}: <strong>{escape(value)}"
        f"</strong> ({escape(fraction(result.total))}), mål {escape(goal_text(result))}: "
        f"<strong>{escape(verdict_text(result))}</strong></p>"
    )


def _indicator_table(view: ProgrammeOverview) -> str:
    rows = []
    for result in view.indicators:
        total = result.total
        css = ' class="hidden"' if total.suppressed else ""
        rows.append(
            f'<tr data-indicator="{escape(result.indicator.name)}">'
            f"<td>{escape(result.indicator.title)}<br>"
            f'<span class="muted">{escape(result.indicator.name)}</span></td>'
            f"<td{css}>{escape(shown_value(result.indicator, total))}</td>"
            f"<td{css}>{escape(fraction(total))}</td>"
            f"<td>{escape(goal_text(result))}</td><td>{escape(verdict_text(result))}</td></tr>"
        )
    return (
        '<table id="indicators"><thead><tr><th>indikator</th><th>värde</th>'
        "<th>täljare / nämnare</th><th>mål</th><th>bedömning</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _breakdowns(view: ProgrammeOverview) -> str:
    blocks = []
    for result in view.indicators:
        tables = []
        for dimension, cells in result.breakdown.items():
            rows = "".join(
                f'<tr data-group="{escape(cell.group)}">'
                f"<td>{escape(group_label(dimension, cell.group, view.partner_names))}</td>"
                f"<td{' class=hidden' if cell.suppressed else ''}>"
                f"{escape(shown_value(result.indicator, cell))}</td>"
                f"<td>{escape(fraction(cell))}</td></tr>"
                for cell in cells
            )
            tables.append(
                f'<table data-breakdown="{escape(result.indicator.name)}:{dimension.value}">'
                f"<caption>per {escape(DIMENSION_LABELS[dimension])}</caption>"
                f"<tbody>{rows}</tbody></table>"
            )
        blocks.append(
            f"<details><summary>{escape(result.indicator.title)} "
            f'<span class="muted">{escape(result.indicator.name)}</span></summary>'
            f'<p class="muted">{escape(result.indicator.definition)}<br>'
            f"Täljare: {escape(result.indicator.numerator)}.<br>"
            f"Nämnare: {escape(result.indicator.denominator)}.</p>{''.join(tables)}</details>"
        )
    return "".join(blocks)


def _funnel(view: ProgrammeOverview) -> str:
    top = max((s.count for s in view.funnel), default=0)
    bars = [
        Bar(
            step.label,
            None if step.suppressed else step.count,
            HIDDEN if step.suppressed else str(step.count),
        )
        for step in view.funnel
    ]
    return bar_chart("Tratten", bars, scale=float(top or 1), chart_id="funnel")


def _comparison(view: ProgrammeOverview, dimension: Dimension) -> str:
    result = view.headline
    cells = result.breakdown.get(dimension, ())
    if not cells:
        return '<p class="muted">Inga grupper ännu.</p>'
    bars = [
        _share_bar(group_label(dimension, cell.group, view.partner_names), cell) for cell in cells
    ]
    return bar_chart(
        f"{result.indicator.title} per {DIMENSION_LABELS[dimension]}",
        bars,
        scale=1.0,
        goal=result.goal,
        chart_id=f"compare-{dimension.value}",
    )


def _count_table(table: CountTable) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = []
        for column in table.columns:
            shown = table.shown(row, column)
            cells.append(
                f'<td class="hidden">{HIDDEN}</td>' if shown is None else f"<td>{shown}</td>"
            )
        body.append(f"<tr><td>{escape(row)}</td>{''.join(cells)}</tr>")
    return (
        f"<table><caption>{escape(table.title)} (kön och åldersgrupp)</caption>"
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _partners(view: ProgrammeOverview) -> str:
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
            f'<tr data-partner="{escape(item.partner.partner_id)}">'
            f"<td>{escape(item.partner.name)}</td><td>{item.places_offered}</td>"
            f"<td>{escape(HIDDEN if used.suppressed else percent(used.value.value))}</td>"
            f"<td>{escape(HIDDEN if people.suppressed else number(people.value.numerator))}</td>"
            f"<td>{escape(HIDDEN if syss.suppressed else percent(syss.value.value))}</td>"
            f"<td>{escape(contributions or '-')}</td></tr>"
        )
    return (
        '<table id="partners"><thead><tr><th>partner</th><th>platser</th><th>utnyttjande</th>'
        "<th>deltagare</th><th>sysselsättning vid avslut</th><th>bidrag</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _overdue(view: ProgrammeOverview) -> str:
    cells = "".join(
        f'<tr data-point="{item.point.value}"><td>{escape(item.point.value.replace("_", " "))}</td>'
        f"<td>{HIDDEN if item.suppressed else item.count}</td></tr>"
        for item in view.overdue
    )
    return (
        '<table id="overdue"><thead><tr><th>uppföljning</th><th>försenade</th></tr></thead>'
        f"<tbody>{cells}</tbody></table>"
    )


def programme_page(view: ProgrammeOverview) -> str:
    programme = view.programme
    ctx = view.context
    over_time = [
        Bar(label, None, "-")
        if not cell.value.people
        else Bar(label, None, HIDDEN)
        if cell.suppressed
        else Bar(label, cell.value.value, percent(cell.value.value), fraction(cell))
        for label, cell in view.over_time
    ]
    body = (
        '<p><a href="/dashboard">Alla program</a></p>'
        f"<h1>{escape(programme.name)}</h1>"
        f'<p class="muted">{escape(programme.owner)} · {programme.period_start} till '
        f"{programme.period_end} · kapacitet {programme.capacity} platser · planerade "
        f"{programme.planned_participants} deltagare · siffror per {ctx.as_of}</p>"
        f"{_verdict(view.headline)}"
        f"<h2>Indikatorer</h2>{_indicator_table(view)}"
        f'<p class="muted">{escape(HIDDEN_NOTE)}</p>'
        "<h2>Tratten: remitterade, inskrivna, placerade, avslutade, i arbete eller studier</h2>"
        f"{_funnel(view)}"
        f"<h2>Resultat över tid: {escape(view.over_time_indicator.title)} per avslutsmånad</h2>"
        + column_chart(
            "Resultat över tid",
            over_time,
            scale=1.0,
            goal=view.headline.goal,
            chart_id="over-time",
        )
        + "<h2>Jämförelse mellan kommuner</h2>"
        + _comparison(view, Dimension.MUNICIPALITY)
        + "<h2>Jämförelse mellan partner</h2>"
        + _comparison(view, Dimension.PARTNER)
        + f"<h2>Försenade uppföljningar</h2>{_overdue(view)}"
        + f"<h2>Deltagare</h2>{_count_table(view.started)}{_count_table(view.exited)}"
        + f"<h2>Partner (IOP-utvärdering)</h2>{_partners(view)}"
        + f"<h2>Indikatorerna per grupp</h2>{_breakdowns(view)}"
    )
    return _page(programme.name, body)


def index_page(views: Sequence[ProgrammeOverview]) -> str:
    rows = []
    bars = []
    for view in views:
        result = view.headline
        reached = next(
            (r for r in view.indicators if r.indicator.key == "deltagare_mot_plan"), None
        )
        reached_text = shown_value(reached.indicator, reached.total) if reached else "-"
        link = f"/dashboard?programme={quote(view.programme.programme_id)}"
        rows.append(
            f'<tr data-programme="{escape(view.programme.programme_id)}">'
            f'<td><a href="{escape(link)}">{escape(view.programme.name)}</a></td>'
            f"<td>{escape(reached_text)}</td>"
            f"<td>{escape(shown_value(result.indicator, result.total))}</td>"
            f"<td>{escape(goal_text(result))}</td><td>{escape(verdict_text(result))}</td></tr>"
        )
        bars.append(_share_bar(view.programme.name, result.total))
    as_of = views[0].context.as_of if views else None
    body = (
        "<h1>Insats: utfall mot mål</h1>"
        f'<p class="muted">siffror per {as_of or "-"}</p>'
        '<table id="programmes"><thead><tr><th>program</th><th>nådda mot plan</th>'
        "<th>sysselsättning vid avslut</th><th>mål</th><th>bedömning</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        "<h2>Jämförelse mellan program</h2>"
        + bar_chart("Sysselsättning vid avslut per program", bars, scale=1.0, chart_id="programmes")
        + f'<p class="muted">{escape(HIDDEN_NOTE)}</p>'
    )
    return _page("Insats: utfall", body)


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
