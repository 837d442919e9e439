"""How figures read, wherever they are shown (terminal, CSV, Excel, dashboard): one formatting of
values, verdicts and group names, and one word for a suppressed figure."""

from __future__ import annotations

from collections.abc import Mapping

from services.outcomes.indicators import Cell, Dimension, Indicator, IndicatorResult
from shared.reference import municipalities

HIDDEN = "dolt"
HIDDEN_NOTE = (
    "dolt = färre än 5 personer (eller en grupp som annars kunde räknas fram ur de andra); "
    "hidden: fewer than 5 people"
)

DIMENSION_LABELS: dict[Dimension, str] = {
    Dimension.PROGRAMME: "program",
    Dimension.MUNICIPALITY: "kommun",
    Dimension.PARTNER: "partner",
    Dimension.ACTIVITY: "insats",
    Dimension.TARGET_GROUP: "målgrupp",
    Dimension.GENDER: "kön",
    Dimension.SUPPORT: "stöd efter avslut",
}


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def shown_value(indicator: Indicator, cell: Cell) -> str:
    """The headline figure of a cell: a share, a count against a plan, or days."""
    if cell.suppressed:
        return HIDDEN
    value = cell.value
    if indicator.unit == "days":
        return "-" if value.value is None else f"{number(value.value)} dagar"
    if indicator.unit == "count":
        if value.value is None or value.denominator is None:
            return number(value.numerator)
        return f"{number(value.numerator)} av {number(value.denominator)} ({percent(value.value)})"
    return percent(value.value)


def fraction(cell: Cell) -> str:
    """Numerator / denominator, where there are both."""
    if cell.suppressed:
        return HIDDEN
    value = cell.value
    if value.numerator is None or value.denominator is None:
        return f"n = {value.people}" if value.people else "-"
    return f"{number(value.numerator)} / {number(value.denominator)}"


def goal_text(result: IndicatorResult) -> str:
    if result.goal is None:
        return "-"
    sign = "≥" if result.indicator.higher_is_better else "≤"
    if result.indicator.unit == "days":
        return f"{sign} {number(result.goal)} dagar"
    if result.indicator.unit == "count" and result.total.value.denominator is None:
        return f"{sign} {number(result.goal)}"
    return f"{sign} {percent(result.goal)}"


def verdict_text(result: IndicatorResult) -> str:
    met = result.goal_met
    if result.goal is None:
        return "-"
    if met is None:
        return "kan inte bedömas"
    return "målet nått" if met else "målet ej nått"


def group_label(dimension: Dimension | None, group: str, partner_names: Mapping[str, str]) -> str:
    if dimension is Dimension.MUNICIPALITY:
        name = municipalities().get(group)
        return f"{name} ({group})" if name else group
    if dimension is Dimension.PARTNER:
        return partner_names.get(group, group)
    return group.replace("_", " ")
