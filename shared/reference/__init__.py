"""Reference data published by Swedish authorities, shipped with the package."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


@cache
def municipalities() -> dict[str, str]:
    """Statistics Sweden's 290 municipality codes (kommunkod) and names."""
    text = resources.files(__package__).joinpath("kommuner.csv").read_text(encoding="utf-8")
    return {row["kommunkod"]: row["kommun"] for row in csv.DictReader(text.splitlines())}
