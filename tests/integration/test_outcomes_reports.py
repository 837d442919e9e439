"""`insats report`, its funder export (CSV, Excel) and dashboard files, from a read model built
through the real broker and database."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from openpyxl import load_workbook

from scripts.harness import wait_settled
from shared.contracts.municipal import Budget, CostCategory, CostReported, FundingShare
from shared.settings import Settings
from tests.integration.test_outcomes_indicators import AS_OF, KALMAR, publish_dataset
from tests.support import event, insats, publish, running


def _cost(report_id: str, amount: float) -> CostReported:
    return CostReported(
        report_id=report_id,
        programme_id="kalmar",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 6, 30),
        category=CostCategory.STAFF,
        amount_sek=amount,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


async def test_the_report_export_and_dashboard_files_show_the_figures_and_hide_small_groups(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    budgeted = KALMAR.model_copy(
        update={
            "budget": Budget(
                total_sek=21_000_000,
                funding=[FundingShare(funder="Europeiska socialfonden", share=2 / 3)],
            )
        }
    )
    async with running("outcomes", env):
        await publish_dataset(settings)
        await publish(
            settings,
            event(budgeted, "0880"),
            event(_cost("k-1", 1_200_000), "0880"),
            # Another tenant's report about Kalmar's programme, of the same id: passed over.
            event(_cost("k-1", 9_999_999), "1380"),
        )
        await wait_settled(settings, services=["outcomes"])
    day = ["--as-of", AS_OF.isoformat()]

    printed = await insats(env, "report", "--programme", "kalmar", *day, "--by", "partner")
    assert "sysselsattning_vid_avslut@2" in printed
    assert "83 %" in printed
    assert "5 / 6" in printed
    assert "målet nått" in printed
    assert "resultat_vid_avslut@2" in printed
    assert "dolt" in printed  # Sökandelots' three participants

    await insats(env, "report", "export", "--out", str(tmp_path), "--programme", "kalmar", *day)
    indicators = _rows(tmp_path / "kalmar-indikatorer.csv")
    total = next(
        r
        for r in indicators
        if r["indikator"] == "sysselsattning_vid_avslut@2" and r["dimension"] == "total"
    )
    assert (total["varde"], total["taljare"], total["namnare"]) == ("0.8333", "5", "6")
    assert total["bedomning"] == "målet nått"
    small = next(
        r
        for r in indicators
        if r["indikator"] == "platsutnyttjande@1" and r["grupp"].startswith("Sökandelots")
    )
    assert (small["varde"], small["taljare"], small["namnare"]) == ("dolt", "dolt", "dolt")

    # Ten started, all aged 29: six women and four men. Four is too few, and the six would
    # reveal them, so both are hidden; the total of ten is shown.
    started = {
        r["kon"]: r
        for r in _rows(tmp_path / "kalmar-deltagare.csv")
        if r["tabell"].endswith("påbörjat")
    }
    assert started["man"]["25-54"] == "dolt"
    assert started["kvinna"]["25-54"] == "dolt"
    assert started["totalt"]["25-54"] == "10"

    iop = {r["partner_id"]: r for r in _rows(tmp_path / "kalmar-iop.csv")}
    assert (iop["kalejdo"]["platser"], iop["kalejdo"]["deltagare"]) == ("5", "6")
    assert iop["sokandelots"]["deltagare"] == "dolt"
    contributions = _rows(tmp_path / "kalmar-bidrag.csv")
    assert {(r["partner"], r["part"], r["slag"]) for r in contributions} >= {
        ("Kalejdo, Oskarshamns kommun", "Kalmar kommun", "pengar"),
        ("Kalejdo, Oskarshamns kommun", "Kalejdo, Oskarshamns kommun", "personaltimmar"),
    }

    workbook = load_workbook(tmp_path / "kalmar.xlsx")
    assert workbook.sheetnames == [
        "Oversikt",
        "Deltagare",
        "Indikatorer",
        "IOP-utvardering",
        "Bidrag",
        "ESF+",
        "Ekonomi",
        "Definitioner",
    ]
    # ESF+: ten participants, six women and four men: the four are hidden, and so the six.
    esf = {r["indikator"]: r for r in _rows(tmp_path / "kalmar-esf-plus.csv")}
    assert [esf["deltagare totalt"][c] for c in ("kvinna", "man", "icke_binar", "totalt")] == [
        "dolt",
        "dolt",
        "0",
        "10",
    ]
    assert esf["arbetsmarknadsstatus ej uppgiven"]["totalt"] == "10"
    assert esf["fått en kvalifikation vid avslut"]["anmarkning"].startswith("ej beräknat")
    # Money: the budget and the ESF's share, the owner's cost only, cost per participant.
    money = {(r["avsnitt"], r["post"]): r for r in _rows(tmp_path / "kalmar-ekonomi.csv")}
    assert money[("budget", "total")]["varde"] == "21000000.0"
    assert money[("finansiering", "Europeiska socialfonden")]["varde"] == "14000000.0"
    assert money[("kostnad", "summa")]["varde"] == "1200000.0"
    assert money[("nyckeltal", "kostnad per deltagare")]["varde"] == "120000.0"  # ten people
    sheet = workbook["Indikatorer"]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(2)]
    headline = next(
        r
        for r in rows
        if r["indikator"] == "sysselsattning_vid_avslut@2" and r["dimension"] == "total"
    )
    assert (headline["taljare"], headline["namnare"]) == (5, 6)
    assert any(r["varde"] == "dolt" for r in rows)

    pages = tmp_path / "dashboard"
    await insats(env, "report", "dashboard", "--out", str(pages), *day)
    page = (pages / "kalmar.html").read_text(encoding="utf-8")
    assert "<svg" in page
    assert 'data-goal-met="true"' in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert 'href="kalmar.html"' in (pages / "index.html").read_text(encoding="utf-8")
