"""Writing a programme's SUS registrations for a Samordningsförbund's deltagaransvarig: outcomes'
pseudonymous rows joined with intake's identities, only for participants who consented to
individual reporting and do not have protected identity; everyone else is anonymous, as SUS
requires. Identities are read with an actor and a reason (audited)."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from pathlib import Path

from services.intake.identity import IdentityRecord
from services.intake.identity_access import Accessor, identities_for_report
from services.outcomes.safe_files import file_stem, inside, neutralised
from services.outcomes.store import OutcomesStore
from services.outcomes.sus import SusRow, sus_rows
from shared.contracts.vocabulary import ConsentPurpose
from shared.persistence import ServiceDatabase, mongo_client
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
    programme: str, period: tuple[date, date], actor: str, reason: str, out: Path
) -> tuple[Path, int, int]:
    """The file, with how many rows are identified and how many anonymous."""
    settings = Settings()
    if settings.identity_master_key is None:
        raise RuntimeError("INSATS_IDENTITY_MASTER_KEY is needed to open identity data")
    from services.intake.identity import IdentityVault
    from services.intake.store import IntakeStore

    vault = IdentityVault(bytes.fromhex(settings.identity_master_key.get_secret_value()))
    client = mongo_client(settings)
    try:
        outcomes = OutcomesStore(ServiceDatabase(client, settings, "outcomes"))
        journeys = [
            journey
            for definition in await outcomes.programme_definitions()
            for journey in await outcomes.journeys_of(definition.programme_id)
        ]
        rows = sus_rows(journeys, programme, period)
        found = await identities_for_report(
            IntakeStore(ServiceDatabase(client, settings, "intake")),
            vault,
            {row.participant_id for row in rows},
            Accessor(actor, reason),
            report=f"sus:{programme}:{period[0].isoformat()}..{period[1].isoformat()}",
            consent=ConsentPurpose.FUNDER_REPORTING,
        )
    finally:
        await client.close()
    # Protected identity is always anonymous in SUS.
    identities = {pid: i for pid, i in found.items() if isinstance(i, IdentityRecord)}
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    path = inside(out, f"sus-{file_stem(programme)}.csv")
    await asyncio.to_thread(_write, path, rows, identities)
    named = sum(1 for row in rows if row.participant_id in identities)
    return path, named, len(rows) - named
