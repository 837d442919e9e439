"""SCB's monthly ESF participant files, against the real broker and database: starts and ends in
their months, protected identity as SCB's placeholder, identities read with an actor and a reason
(audited), and a return after an exit correcting an earlier month so that it and every later
month are written again."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from scripts.harness import wait_settled
from services.intake.personnummer import format_with_check
from shared.contracts.municipal import ParticipationExitRecorded
from shared.contracts.vocabulary import ConsentPurpose, ExitReason
from shared.settings import Settings
from tests.integration.test_intake_privacy import _dump
from tests.support import event, insats, publish, running
from tests.unit.factories import programme, referral

AMAL = format_with_check(date(1988, 4, 2), 242)  # a woman
BO = format_with_check(date(1975, 9, 30), 251)  # a man, with protected identity


WHO = ("--actor", "Projektekonom, Halmstads kommun", "--reason", "Månadsrapportering till SCB")
SUS_WHO = (
    "--actor",
    "Deltagaransvarig, Samordningsförbundet Halland",
    "--reason",
    "Registrering i SUS av insatsens deltagare",
)


async def _scb(env: dict[str, str], out: Path, through: str) -> str:
    return await insats(
        env, "report", "scb", "-p", "halmstad-150", "--through", through, *WHO, "--out", str(out)
    )


async def _sus(env: dict[str, str], out: Path, *more: str) -> str:
    period = ("--from", "2026-01-01", "--to", "2026-12-31")
    return await insats(
        env, "report", *more, "-p", "halmstad-150", *period, *SUS_WHO, "--out", str(out)
    )


def _exit(request_id: str, personnummer: str, on: date) -> ParticipationExitRecorded:
    return ParticipationExitRecorded(
        request_id=request_id,
        personnummer=personnummer,
        municipality="1380",
        programme_id="halmstad-150",
        reason=ExitReason.FOUND_WORK,
        exited_on=on,
        recorded_by="Viva, handläggare",
    )


async def test_the_monthly_files_report_each_month_and_reissue_from_a_correction(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "scb"
    async with running("intake", env), running("outcomes", env):
        await publish(settings, event(programme(capacity=0)))
        await wait_settled(settings, services=["intake", "outcomes"])
        await publish(
            settings,
            event(referral(personnummer=AMAL, name="Amal Hassan", referral_date=date(2026, 3, 2))),
            event(
                referral(
                    personnummer=BO,
                    referral_id="1380-2",
                    referral_date=date(2026, 3, 16),
                    protected_identity=True,
                )
            ),
        )
        await wait_settled(settings, services=["intake", "outcomes"])
        await publish(settings, event(_exit("x-1", AMAL, date(2026, 4, 20))))
        await wait_settled(settings, services=["intake", "outcomes"])
        first = await _scb(env, out, "2026-05")
        # Amal comes back in May and leaves in June: one participant, so April's end was not
        # the end: April is corrected, and April, May and June are written again.
        await publish(
            settings,
            event(
                referral(personnummer=AMAL, referral_id="1380-3", referral_date=date(2026, 5, 4))
            ),
        )
        await wait_settled(settings, services=["intake", "outcomes"])
        await publish(settings, event(_exit("x-2", AMAL, date(2026, 6, 12))))
        await wait_settled(settings, services=["intake", "outcomes"])
        before = {p.name: p.read_text("utf-8") for p in out.glob("*.csv")}
        second = await _scb(env, out, "2026-06")
        unchanged = await _scb(env, out, "2026-06")
        stored = await _dump(settings)

    def lines(month: str) -> list[str]:
        return (out / f"scb-halmstad-150-{month}.csv").read_text("utf-8").splitlines()

    assert "wrote" in first and "2026-05.csv" in first
    assert before["scb-halmstad-150-2026-03.csv"].splitlines() == [
        "Personnummer;Fornamn;Efternamn;Startdatum;Slutdatum",
        f"{AMAL};Amal;Hassan;2026-03-02;",
        "19750000Tf19;;;2026-03-16;",
    ]
    assert before["scb-halmstad-150-2026-04.csv"].splitlines()[1:] == [
        f"{AMAL};Amal;Hassan;2026-03-02;2026-04-20"
    ]
    assert before["scb-halmstad-150-2026-05.csv"].splitlines()[1:] == []
    # The correction: from April on, and March is left as it was sent.
    assert [line.split()[-1] for line in second.splitlines() if line.startswith("wrote")] == [
        *(str(out / f"scb-halmstad-150-{m}.csv") for m in ("2026-04", "2026-05", "2026-06")),
        str(out / "scb-halmstad-150-kalla.json"),
    ]
    assert "send 3 file(s) to SCB" in second
    assert lines("2026-04")[1:] == []
    assert lines("2026-06")[1:] == [f"{AMAL};Amal;Hassan;2026-03-02;2026-06-12"]
    assert "nothing new or changed" in unchanged
    # The only files with a personnummer are the monthly files; the state is pseudonymous.
    state = (out / "scb-halmstad-150-manader.json").read_text("utf-8")
    provenance = (out / "scb-halmstad-150-kalla.json").read_text("utf-8")
    assert AMAL not in state + provenance and BO not in state + provenance
    # What the files say can be recomputed from the records the provenance names.
    verified = await insats(env, "report", "verify", str(out / "scb-halmstad-150-kalla.json"))
    assert "scb-halmstad-150-2026-06.csv: holds identities" in verified
    assert "verified" in verified and "NOT reproduced" not in verified
    assert sorted(json.loads(state)) == ["2026-03", "2026-04", "2026-05", "2026-06"]
    # Each run that read identities is audited with its actor, reason and report.
    exports = [a for a in stored["audit"] if str(a.get("report", "")).startswith("scb:")]
    assert [(a["actor"], a["count"]) for a in exports] == [
        ("Projektekonom, Halmstads kommun", 2),
        ("Projektekonom, Halmstads kommun", 1),
    ]


async def test_sus_registrations_name_only_those_who_consented_and_are_not_protected(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    cia = format_with_check(date(1992, 1, 8), 260)  # no consent to individual reporting
    async with running("intake", env), running("outcomes", env):
        await publish(
            settings,
            event(programme(capacity=0)),
            event(programme(programme_id="halmstad-sfi", capacity=0)),
        )
        await wait_settled(settings, services=["intake", "outcomes"])
        await publish(
            settings,
            event(
                referral(
                    personnummer=AMAL,
                    name="Amal Hassan",
                    consents=[ConsentPurpose.FUNDER_REPORTING],
                    referral_date=date(2026, 3, 2),
                )
            ),
            event(
                referral(
                    personnummer=AMAL,
                    referral_id="1380-9",
                    programme_id="halmstad-sfi",
                    referral_date=date(2026, 3, 9),
                )
            ),
            event(
                referral(
                    personnummer=BO,
                    referral_id="1380-2",
                    consents=[ConsentPurpose.FUNDER_REPORTING],
                    protected_identity=True,
                )
            ),
            event(referral(personnummer=cia, referral_id="1380-3")),
        )
        await wait_settled(settings, services=["intake", "outcomes"])
        await publish(settings, event(_exit("x-1", AMAL, date(2026, 4, 20))))
        await wait_settled(settings, services=["intake", "outcomes"])
        printed = await _sus(env, tmp_path, "sus")
        stored = await _dump(settings)
    assert "1 identified, 2 anonymous" in printed
    # `insats report export` writes it too, beside the programme's other files.
    everything = tmp_path / "export"
    await _sus(env, everything, "export", "--sus", "--scb-through", "2026-04")
    assert {
        "halmstad-150-indikatorer.csv",
        "halmstad-150-ekonomi.csv",
        "halmstad-150-esf-plus.csv",
        "sus-halmstad-150.csv",
        "scb-halmstad-150-2026-04.csv",
    } <= {p.name for p in everything.iterdir()}
    verified = await insats(env, "report", "verify", str(tmp_path / "sus-halmstad-150-kalla.json"))
    assert "sus-halmstad-150.csv: holds identities" in verified and "NOT reproduced" not in verified
    rows = (tmp_path / "sus-halmstad-150.csv").read_text("utf-8").splitlines()
    header, *body = (line.split(";") for line in rows)
    registrations = [dict(zip(header, line, strict=True)) for line in body]
    named = [r for r in registrations if r["anonym"] == "nej"]
    assert [(r["personnummer"], r["samtidiga_insatser"], r["utregistrering"]) for r in named] == [
        (AMAL, "halmstad-sfi", "2026-04-20")
    ]
    assert named[0]["avslutsorsak"] == "fatt_arbete"
    anonymous = [r for r in registrations if r["anonym"] == "ja"]
    assert [r["personnummer"] for r in anonymous] == ["", ""]
    assert BO not in "\n".join(rows) and cia not in "\n".join(rows)
    [audit] = [a for a in stored["audit"] if str(a.get("report", "")).startswith("sus:")]
    assert (audit["actor"], audit["count"]) == ("Deltagaransvarig, Samordningsförbundet Halland", 3)
