"""Terminal rendering of programme reports."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from services.outcomes.domain import ProgrammeReport


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def report_table(reports: Sequence[ProgrammeReport]) -> Table:
    table = Table(title="Programmes against their goals", show_lines=False)
    for column in (
        "programme",
        "planned",
        "referred",
        "reached",
        "of plan",
        "placed",
        "exited",
        "sysselsättning at exit",
        "goal",
        "met",
    ):
        table.add_column(column, justify="left" if column == "programme" else "right")
    for report in reports:
        met = report.goal_met
        table.add_row(
            report.programme_id,
            str(report.planned),
            str(report.referred),
            str(report.reached),
            _percent(report.reached_share_of_planned),
            str(report.placed),
            str(report.exited),
            f"{report.in_sysselsattning_at_exit} ({_percent(report.sysselsattning_share)})",
            _percent(report.goal_sysselsattning),
            "-" if met is None else ("[green]yes[/]" if met else "[red]no[/]"),
        )
    return table
