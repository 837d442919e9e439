"""The identities a report to an authority needs, read from intake by the operator's command:
with an actor and a reason, audited, and only in memory until the report's own file."""

from __future__ import annotations

from collections.abc import Iterable

from services.intake.identity import IdentityRecord, IdentityVault, vault_of
from services.intake.identity_access import Accessor, Protected, identities_for_report
from services.intake.store import IntakeStore
from shared.contracts.vocabulary import ConsentPurpose
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings


def check_access(settings: Settings, who: Accessor) -> IdentityVault:
    """Refuse before any work is done: no key, or no actor and reason."""
    vault = vault_of(settings)
    if vault is None:
        raise RuntimeError("INSATS_IDENTITY_MASTER_KEY is needed to open identity data")
    who.check()
    return vault


async def read_identities(
    settings: Settings,
    participant_ids: Iterable[str],
    who: Accessor,
    report: str,
    consent: ConsentPurpose | None = None,
) -> dict[str, IdentityRecord | Protected]:
    vault = check_access(settings, who)
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"))
        return await identities_for_report(store, vault, participant_ids, who, report, consent)
    finally:
        await client.close()
