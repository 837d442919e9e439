import pytest

from services.intake.identity import IdentityRecord, IdentityUnreadable, IdentityVault

VAULT = IdentityVault(bytes(range(32)))
RECORD = IdentityRecord(personnummer="198804094326", name="Astrid", email="a@example.se")


def test_a_sealed_record_opens_with_the_persons_key() -> None:
    key = VAULT.new_person_key()
    assert VAULT.open(VAULT.seal(RECORD, key, "p-1"), key, "p-1") == RECORD


def test_the_sealed_record_does_not_show_its_contents() -> None:
    sealed = VAULT.seal(RECORD, VAULT.new_person_key(), "p-1")
    assert b"198804094326" not in sealed
    assert b"Astrid" not in sealed


def test_a_record_moved_to_another_participant_does_not_open() -> None:
    key = VAULT.new_person_key()
    with pytest.raises(IdentityUnreadable):
        VAULT.open(VAULT.seal(RECORD, key, "p-1"), key, "p-2")


def test_a_wrapped_key_opens_only_with_the_master_key_and_its_participant() -> None:
    key = VAULT.new_person_key()
    wrapped = VAULT.wrap(key, "p-1")
    assert VAULT.unwrap(wrapped, "p-1") == key
    with pytest.raises(IdentityUnreadable):
        VAULT.unwrap(wrapped, "p-2")
    with pytest.raises(IdentityUnreadable):
        IdentityVault(bytes(32)).unwrap(wrapped, "p-1")


def test_the_master_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        IdentityVault(b"short")
