"""Key custody on the real stack: person keys in a store of their own, a master key with
versions and rotation, and what a backup of every intake database taken before an erasure can
tell after it, opened with the deployment's real master key."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import pytest

from scripts.harness import wait_settled
from services.intake.identity import IdentityRecord, IdentityUnreadable, IdentityVault
from services.intake.key_store import KEY_STORE, VersionsMissing
from services.intake.personnummer import format_with_check
from services.intake.store import IntakeStore
from shared.contracts.municipal import ErasureRequested
from shared.contracts.vocabulary import ErasureReason
from shared.key_custody import parse_keyring
from shared.persistence import ServiceDatabase, mongo_client
from shared.settings import Settings
from tests.support import event, insats, publish, running
from tests.unit.factories import programme, referral

ERASED = format_with_check(date(1988, 4, 9), 432)
KEPT = format_with_check(date(1991, 2, 3), 246)
DATABASES = ("intake", KEY_STORE)

Backup = dict[str, dict[str, list[dict[str, Any]]]]


async def _backup(settings: Settings) -> Backup:
    """Every collection of every intake database, as a dump would hold it."""
    client = mongo_client(settings)
    try:
        backup: Backup = {}
        for database in DATABASES:
            db = client[settings.database_name(database)]
            backup[database] = {
                name: await db[name].find({}).to_list() for name in await db.list_collection_names()
            }
        return backup
    finally:
        await client.close()


async def _restore(settings: Settings, backup: Backup, only: tuple[str, ...] = DATABASES) -> None:
    """The backup restored under another prefix, as an operator restores one to look into it."""
    client = mongo_client(settings)
    try:
        for database in only:
            db = client[settings.database_name(database)]
            await client.drop_database(db.name)
            for name, documents in backup[database].items():
                if documents:
                    await db[name].insert_many(documents)
    finally:
        await client.close()


async def _identity(settings: Settings, keyring: str, pid: str) -> IdentityRecord | None:
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"))
        return await store.read_identity(IdentityVault(parse_keyring(keyring)), pid)
    finally:
        await client.close()


async def test_a_backup_taken_before_an_erasure_cannot_reveal_the_person_after_it(
    env: dict[str, str], settings: Settings
) -> None:
    old_key = env["INSATS_IDENTITY_MASTER_KEY"]
    new_key = hashlib.sha256(b"rotated" + old_key.encode()).hexdigest()
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(
            settings,
            event(referral(referral_id="1380-1", personnummer=ERASED, name="Astrid Testsson")),
            event(referral(referral_id="1380-2", personnummer=KEPT, name="Bo Kvarsson")),
        )
        await wait_settled(settings, services=["intake"])
    backup = await _backup(settings)
    # The keys are not in intake's own database: a backup of it opens nothing on its own.
    assert "person_keys" not in backup["intake"]
    by_name = {
        (await _identity(settings, old_key, doc["_id"])).name: doc["_id"]  # type: ignore[union-attr]
        for doc in backup["intake"]["participants"]
    }
    erased, kept = by_name["Astrid Testsson"], by_name["Bo Kvarsson"]
    async with running("intake", env):
        await publish(
            settings,
            event(
                ErasureRequested(
                    request_id="e-1",
                    personnummer=ERASED,
                    municipality="1380",
                    reason=ErasureReason.GDPR_ARTICLE_17,
                    requested_by="procapita/registrator",
                )
            ),
        )
        await wait_settled(settings, services=["intake"])
    restored = settings.model_copy(update={"database_prefix": settings.database_prefix + "_r"})

    # Intake's database restored from the backup, beside the live key store: the erased person's
    # key is gone from it, and nothing else opens the sealed record.
    live_keys = await _backup(settings)
    await _restore(restored, backup, only=("intake",))
    await _restore(restored, live_keys, only=(KEY_STORE,))
    assert await _identity(restored, old_key, erased) is None
    assert await _identity(restored, old_key, kept) is not None

    # Both databases restored from the backup: the key store's backup still holds the key, so
    # the erasure has not yet reached that backup. Rotation and destruction are what reach it.
    await _restore(restored, backup)
    assert (await _identity(restored, old_key, erased)) is not None

    rotating = {**env, "INSATS_IDENTITY_MASTER_KEY": f"v2:{new_key},v1:{old_key}"}
    printed = await insats(
        rotating,
        "identity",
        "rotate-master-key",
        "--actor",
        "drift/operatör",
        "--reason",
        "scheduled rotation",
    )
    # The kept person's key and index entry; nothing of the erased person is left to rewrap.
    assert "2 person keys and index entries, and 0 dead letters, now wrapped under v2" in printed
    status = await insats(rotating, "identity", "master-keys")
    [v1] = [line for line in status.splitlines() if "│ v1 " in line]
    assert "│ 0 " in v1 and str(datetime.now(UTC).year) in v1.split("│")[-2]  # retired today

    # v1 destroyed: the backup's copy of the erased person's key is wrapped by a version that no
    # longer exists. The live store opens the kept person under v2 alone.
    destroyed = f"v2:{new_key}"
    with pytest.raises(IdentityUnreadable, match="v1 is not in the keyring"):
        await _identity(restored, destroyed, erased)
    kept_now = await _identity(settings, destroyed, kept)
    assert kept_now is not None and kept_now.personnummer == KEPT
    # Without its own backups, the key store's old backup is no good for anyone: key-store
    # backups are kept no longer than master key versions.
    with pytest.raises(IdentityUnreadable):
        await _identity(restored, destroyed, kept)

    # Intake refuses to start with a keyring that lacks a version still in use.
    with pytest.raises(VersionsMissing, match="v2 \\(2 person keys or index entries\\)"):
        async with running("intake", {**env, "INSATS_IDENTITY_MASTER_KEY": old_key}):
            pass
    async with running("intake", {**env, "INSATS_IDENTITY_MASTER_KEY": destroyed}):
        pass
    client = mongo_client(settings)
    try:
        store = IntakeStore(ServiceDatabase(client, settings, "intake"))
        [rotation] = [a for a in await store.audit.find({}).to_list() if "master_key_id" in a]
        assert (rotation["action"], rotation["actor"]) == ("rotate_master_key", "drift/operatör")
    finally:
        await client.close()
