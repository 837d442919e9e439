"""Writing SCB's monthly ESF participant files: outcomes' pseudonymous months joined with the
identities intake holds, read with an actor and a reason (audited).

The file is the one place a clear personnummer is written: nothing else is kept on disk but the
pseudonymous digest of each month sent (`scb-<programme>-manader.json`), so that the next run
knows which months changed. Columns and placeholders are those SCB's ESF instructions describe
as far as they could be confirmed (see README).
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

from scripts.report_identities import check_access, read_identities
from services.intake.identity import IdentityRecord
from services.intake.identity_access import Accessor, Protected
from services.outcomes.provenance import (
    FORMAT,
    MANIFEST_SUFFIX,
    log_of,
    replayed,
    sealed,
)
from services.outcomes.rebuild import LogBounds
from services.outcomes.safe_files import file_stem, inside, neutralised
from services.outcomes.scb import (
    ScbEntry,
    file_name,
    month_digest,
    monthly_rows,
    months_to_send,
    participations,
)
from shared.settings import Settings

HEADER = ["Personnummer", "Fornamn", "Efternamn", "Startdatum", "Slutdatum"]
# SCB's placeholder for a participant with protected identity: birth date, then "Tf29" for a
# woman (confirmed) or "Tf19" for a man (by the same pattern; not confirmed).
PROTECTED_SUFFIX = {"kvinna": "Tf29", "man": "Tf19"}


def _person_cells(identity: IdentityRecord | Protected) -> list[str]:
    if isinstance(identity, Protected):
        suffix = PROTECTED_SUFFIX.get(identity.gender or "", "Tf29")
        # Only the birth year is held for a protected person: month and day are written 00.
        return [f"{identity.birth_year or 0:04d}0000{suffix}", "", ""]
    first, _, last = (identity.name or "").strip().rpartition(" ")
    return [identity.personnummer, first or last, last if first else ""]


def _write_month(
    path: Path, rows: list[ScbEntry], identities: dict[str, IdentityRecord | Protected]
) -> int:
    left_out = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        for row in rows:
            identity = identities.get(row.participant_id)
            if identity is None:
                left_out += 1
                continue
            writer.writerow(
                [
                    neutralised(cell)
                    for cell in [
                        *_person_cells(identity),
                        row.start.isoformat(),
                        row.end.isoformat() if row.end else "",
                    ]
                ]
            )
    return left_out


async def write_scb_months(
    settings: Settings, programme: str, through: str, actor: str, reason: str, out: Path
) -> tuple[list[Path], int]:
    """Write the months to send, computed from the event log, with `scb-<id>-kalla.json` naming
    the records they came from; return their files and how many rows were left out."""
    who = Accessor(actor, reason)
    check_access(settings, who)
    async with replayed(settings, LogBounds()) as log:
        log.require_whole()
        months = monthly_rows(participations(await log.journeys(programme), programme), through)
    state_path = inside(out, f"scb-{file_stem(programme)}-manader.json")
    sent: dict[str, str] = (
        json.loads(await asyncio.to_thread(state_path.read_text, "utf-8"))
        if await asyncio.to_thread(state_path.is_file)
        else {}
    )
    digests = {month: month_digest(rows) for month, rows in months.items()}
    to_send = months_to_send(digests, sent)
    if not to_send:
        return [], 0
    identities = await read_identities(
        settings,
        {row.participant_id for month in to_send for row in months[month]},
        who,
        report=f"scb:{programme}:{to_send[0]}..{to_send[-1]}",
    )
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    written, left_out = [], 0
    for month in to_send:
        path = inside(out, file_name(programme, month))
        left_out += await asyncio.to_thread(_write_month, path, months[month], identities)
        written.append(path)
    state = {**sent, **{month: digests[month] for month in to_send}}
    await asyncio.to_thread(
        state_path.write_text, json.dumps(state, indent=2, sort_keys=True) + "\n", "utf-8"
    )
    provenance = {
        "format": FORMAT,
        "report": "scb",
        "programme_id": programme,
        "through": through,
        "sent": to_send,
        "log": log_of(log.spans),
        "contents": {file_name(programme, m): d for m, d in digests.items()},
    }
    source = inside(out, f"scb-{file_stem(programme)}{MANIFEST_SUFFIX}")
    await asyncio.to_thread(source.write_text, sealed(provenance), "utf-8")
    return [*written, source], left_out
