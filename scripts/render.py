"""Terminal rendering of programme reports and indicators."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from services.outcomes.indicators import Dimension, IndicatorResult
from services.outcomes.overview import ProgrammeOverview
from services.outcomes.presentation import (
    DIMENSION_LABELS,
    HIDDEN,
    HIDDEN_NOTE,
    fraction,
    goal_text,
    group_label,
    shown_value,
    verdict_text,
)


def _verdict(result: IndicatorResult) -> str:
    text = verdict_text(result)
    met = result.goal_met
    if met is None:
        return text
    return f"[green]{text}[/]" if met else f"[red]{text}[/]"


def indicator_table(view: ProgrammeOverview) -> Table:
    """One programme's indicators, each named with its version, against the goals."""
    ctx = view.context
    table = Table(
        title=f"{view.programme.name}: indicators as of {ctx.as_of} "
        f"(period {ctx.period_start} to {ctx.period_end})",
        title_justify="left",
    )
    for column in ("indicator", "value", "numerator / denominator", "goal", "verdict"):
        table.add_column(column, justify="left" if column == "indicator" else "right")
    for result in view.indicators:
        table.add_row(
            f"{result.indicator.title}\n[dim]{result.indicator.name}[/]",
            shown_value(result.indicator, result.total),
            fraction(result.total),
            goal_text(result),
            _verdict(result),
        )
    return table


def funnel_line(view: ProgrammeOverview) -> Text:
    steps = [f"{s.label} {HIDDEN if s.suppressed else s.count}" for s in view.funnel]
    return Text("Funnel: " + " → ".join(steps))


def overdue_line(view: ProgrammeOverview) -> Text:
    counts = [f"{i.point.value} {HIDDEN if i.suppressed else i.count}" for i in view.overdue]
    return Text("Overdue follow-ups: " + (", ".join(counts) or "none asked for"))


def overdue_list(view: ProgrammeOverview) -> Table:
    """The work list: whom to follow up. Pseudonymous ids and dates only, no outcomes."""
    table = Table(title=f"{view.programme.programme_id}: overdue follow-ups", title_justify="left")
    for column in ("participant", "follow-up", "due", "exit", "municipality"):
        table.add_column(column)
    for f in view.overdue_follow_ups:
        where = f.municipality or "-"
        table.add_row(f.participant_id, f.point.value, str(f.due_date), str(f.exit_date), where)
    return table


def breakdown_table(view: ProgrammeOverview, dimension: Dimension) -> Table:
    """Every indicator by one dimension's groups: the comparison across them."""
    groups: list[str] = []
    for result in view.indicators:
        for cell in result.breakdown.get(dimension, ()):
            if cell.group not in groups:
                groups.append(cell.group)
    table = Table(
        title=f"{view.programme.programme_id}: by {DIMENSION_LABELS[dimension]}",
        title_justify="left",
    )
    table.add_column("indicator")
    for group in groups:
        table.add_column(group_label(dimension, group, view.partner_names), justify="right")
    for result in view.indicators:
        cells = {c.group: c for c in result.breakdown.get(dimension, ())}
        if not cells:
            continue
        table.add_row(
            result.indicator.name,
            *(shown_value(result.indicator, cells[g]) if g in cells else "" for g in groups),
        )
    return table


def programme_summary(views: Sequence[ProgrammeOverview]) -> Table:
    """Programmes side by side on the headline indicator."""
    table = Table(title="Programmes against their goals", title_justify="left")
    for column in ("programme", "reached / planned", "sysselsättning at exit", "goal", "verdict"):
        table.add_column(column, justify="left" if column == "programme" else "right")
    for view in views:
        reached = next(
            (r for r in view.indicators if r.indicator.key == "deltagare_mot_plan"), None
        )
        table.add_row(
            view.programme.programme_id,
            shown_value(reached.indicator, reached.total) if reached else "-",
            f"{shown_value(view.headline.indicator, view.headline.total)} "
            f"({fraction(view.headline.total)})",
            goal_text(view.headline),
            _verdict(view.headline),
        )
    return table


def programme_overview(
    view: ProgrammeOverview, *, by: Sequence[Dimension] = (), list_overdue: bool = False
) -> Group:
    parts: list[Table | Text] = [indicator_table(view), funnel_line(view), overdue_line(view)]
    if list_overdue:
        parts.append(overdue_list(view))
    parts += [breakdown_table(view, dimension) for dimension in by]
    parts.append(Text(HIDDEN_NOTE, style="dim"))
    return Group(*parts)
