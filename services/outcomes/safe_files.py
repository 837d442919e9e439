"""Files a funder opens: no cell a spreadsheet runs as a formula, no name that leaves its folder.

Text in a report comes from tenants (a partner's name, a contribution's description, a programme
id). A cell that starts with `=`, `+`, `-` or `@` (or a tab, carriage return or null, which some
spreadsheets skip before looking) is a formula to Excel and LibreOffice: OWASP ASVS 5.0
requirement 1.2.10 is to prefix such text with a single quote, which both show as text.
Numbers are left as they are, so a negative figure is still a number.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def neutralised(value: object) -> object:
    """The value as a cell may safely hold it: text a spreadsheet would run is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def for_worksheet(value: object) -> object:
    """As `neutralised`, without the control characters a workbook cannot hold (which would
    make the whole export fail on one partner's name)."""
    safe = neutralised(value)
    return ILLEGAL_CHARACTERS_RE.sub("", safe) if isinstance(safe, str) else safe


def file_stem(identifier: str) -> str:
    """A file name part for an identifier: itself if it is letters, digits, '-' and '_' only;
    otherwise those characters with the rest replaced, and a digest of the original, so two
    different ids never share a file."""
    cleaned = _UNSAFE.sub("_", identifier).strip("_-") or "id"
    if cleaned == identifier:
        return identifier
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:10]
    return f"{cleaned[:80]}-{digest}"


def inside(folder: Path, name: str) -> Path:
    """`folder / name`, refused if it would lie anywhere but directly in `folder`."""
    base = folder.resolve()
    path = (base / name).resolve()
    if path.parent != base:
        raise ValueError(f"{name!r} is not a file name inside {folder}")
    return path
