"""Report files a funder opens: text that a spreadsheet would run stays text, and a file name
made from an identifier stays in its folder."""

import csv
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from services.outcomes.export import write_csv, write_sheet
from services.outcomes.safe_files import file_stem, inside, neutralised

PAYLOADS = [
    '=HYPERLINK("http://x.example","klicka")',
    "+46701234567",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\x00=1",
]


def test_text_that_a_spreadsheet_would_run_is_quoted_and_numbers_are_not() -> None:
    assert [neutralised(p) for p in PAYLOADS] == [f"'{p}" for p in PAYLOADS]
    assert neutralised(-5) == -5 and neutralised(0.25) == 0.25
    assert neutralised("Erikshjälpen Second Hand") == "Erikshjälpen Second Hand"


def test_csv_and_excel_cells_hold_formulas_as_text(tmp_path: Path) -> None:
    rows = [[payload, -1.5] for payload in PAYLOADS]
    path = write_csv(tmp_path / "t.csv", ["=namn", "varde"], rows)
    with path.open(encoding="utf-8") as handle:
        read = list(csv.reader(handle))
    assert read[0] == ["'=namn", "varde"]
    assert [row[0] for row in read[1:]] == [f"'{p}" for p in PAYLOADS]
    workbook = Workbook()
    write_sheet(workbook, "Bidrag", ["=namn", "varde"], rows)
    workbook.save(tmp_path / "t.xlsx")
    sheet = load_workbook(tmp_path / "t.xlsx")["Bidrag"]
    cells = [row[0] for row in sheet.iter_rows(min_row=1)]
    assert all(cell.data_type == "s" for cell in cells)
    # A workbook cannot hold a null: it goes, the quote stays.
    assert [cell.value for cell in cells] == [
        "'=namn",
        *(f"'{p}".replace("\x00", "") for p in PAYLOADS),
    ]
    assert [row[1].value for row in sheet.iter_rows(min_row=2)] == [-1.5] * len(PAYLOADS)


def test_a_file_name_from_an_identifier_never_leaves_the_folder(tmp_path: Path) -> None:
    assert file_stem("kalmar-lan_2026") == "kalmar-lan_2026"
    for hostile in ("../../etc/passwd", "..", "a/b", "C:\\x", "/abs"):
        stem = file_stem(hostile)
        assert "/" not in stem and "\\" not in stem and ".." not in stem
        assert inside(tmp_path, f"{stem}.csv").parent == tmp_path.resolve()
    assert file_stem("a/b") != file_stem("a_b")
    for escape in ("../x.csv", "sub/x.csv", "/tmp/x.csv"):
        with pytest.raises(ValueError, match="not a file name inside"):
            inside(tmp_path, escape)
