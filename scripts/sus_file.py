"""Writing a programme's SUS registrations for a Samordningsförbund's deltagaransvarig: outcomes'
pseudonymous rows joined with intake's identities, only for participants who consented to
individual reporting and do not have protected identity; everyone else is anonymous, as SUS
requires. Identities are read with an actor and a reason (audited)."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from pathlib import Path

from scripts.report_identities import check_access, read_identities
from services.intake.identity import IdentityRecord
from services.intake.identity_access import Accessor
from services.outcomes.provenance import (
    FORMAT,
    MANIFEST_SUFFIX,
    log_of,
    replayed,
    sealed,
)
from services.outcomes.rebuild import LogBounds
from services.outcomes.safe_files import file_stem, inside, neutralised
from services.outcomes.sus import SusRow, file_name, rows_digest, sus_rows
from shared.contracts.vocabulary import ConsentPurpose
from shared.settings import Settings

HEADER = [
    "personnummer",
    "anonym",
    "kon",
    "alder",
    "insats",
    "deltagartillfalle",
    "inregistrering",
    "utregistrering",
    "samtidiga_insatser",
    "sysselsattning_fore",
    "sysselsattning_efter",
    "forsorjning_fore",
    "forsorjning_efter",
    "utbildning_fore",
    "utbildning_efter",
    "avslutsorsak",
]


def _cells(row: SusRow, identity: IdentityRecord | None) -> list[object]:
    return [
        identity.personnummer if identity else "",
        "nej" if identity else "ja",
        row.gender,
        row.age if row.age is not None else "",
        row.programme_id,
        row.participation,
        row.registered_in.isoformat(),
        row.registered_out.isoformat() if row.registered_out else "",
        " ".join(row.concurrent),
        row.occupation_before,
        row.occupation_after,
        row.income_before,
        row.income_after,
        row.education_before,
        "",  # Insats does not learn the education completed during the insats
        row.reason,
    ]


def _write(path: Path, rows: list[SusRow], identities: dict[str, IdentityRecord]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        for row in rows:
            cells = _cells(row, identities.get(row.participant_id))
            writer.writerow([neutralised(cell) for cell in cells])
    return path


async def write_sus(
    settings: Settings,
    programme: str,
    period: tuple[date, date],
    actor: str,
    reason: str,
    out: Path,
) -> tuple[list[Path], int, int]:
    """The file computed from the event log, with `sus-<id>-kalla.json` naming the records it
    came from, and how many rows are identified and how many anonymous."""
    who = Accessor(actor, reason)
    check_access(settings, who)
    async with replayed(settings, LogBounds()) as log:
        log.require_whole()
        rows = sus_rows(await log.journeys(), programme, period)
    found = await read_identities(
        settings,
        {row.participant_id for row in rows},
        who,
        report=f"sus:{programme}:{period[0].isoformat()}..{period[1].isoformat()}",
        consent=ConsentPurpose.FUNDER_REPORTING,
    )
    # Protected identity is always anonymous in SUS.
    identities = {pid: i for pid, i in found.items() if isinstance(i, IdentityRecord)}
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    path = inside(out, file_name(programme))
    await asyncio.to_thread(_write, path, rows, identities)
    provenance = {
        "format": FORMAT,
        "report": "sus",
        "programme_id": programme,
        "period": [period[0].isoformat(), period[1].isoformat()],
        "log": log_of(log.spans),
        "contents": {path.name: rows_digest(rows)},
    }
    source = inside(out, f"sus-{file_stem(programme)}{MANIFEST_SUFFIX}")
    await asyncio.to_thread(source.write_text, sealed(provenance), "utf-8")
    named = sum(1 for row in rows if row.participant_id in identities)
    return [path, source], named, len(rows) - named
