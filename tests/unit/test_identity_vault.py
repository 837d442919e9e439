import pytest

from services.intake.identity import IdentityRecord, IdentityUnreadable, IdentityVault
from shared.key_custody import LocalKeyring, parse_keyring

VAULT = IdentityVault(LocalKeyring({"v1": bytes(range(32))}, "v1"))
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
    assert wrapped.key_id == "v1"
    assert VAULT.unwrap(wrapped, "p-1") == key
    with pytest.raises(IdentityUnreadable):
        VAULT.unwrap(wrapped, "p-2")
    with pytest.raises(IdentityUnreadable):
        IdentityVault(LocalKeyring({"v1": bytes(32)}, "v1")).unwrap(wrapped, "p-1")


def test_the_master_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        parse_keyring("abcd")


def test_a_single_key_is_version_v1_and_the_first_of_several_is_current() -> None:
    assert parse_keyring("00" * 32).current_id == "v1"
    keyring = parse_keyring(f"v2:{'11' * 32}, v1:{'00' * 32}")
    assert keyring.current_id == "v2"
    assert keyring.has_version("v1") and not keyring.has_version("v3")


def test_a_key_wrapped_under_an_old_version_opens_until_that_version_is_destroyed() -> None:
    old = IdentityVault(parse_keyring(f"v1:{'00' * 32}"))
    wrapped = old.wrap(b"k" * 32, "p-1")
    rotated = IdentityVault(parse_keyring(f"v2:{'11' * 32},v1:{'00' * 32}"))
    assert rotated.unwrap(wrapped, "p-1") == b"k" * 32
    assert rotated.wrap(b"k" * 32, "p-1").key_id == "v2"
    destroyed = IdentityVault(parse_keyring(f"v2:{'11' * 32}"))
    with pytest.raises(IdentityUnreadable, match="v1 is not in the keyring"):
        destroyed.unwrap(wrapped, "p-1")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty"),
        ("v1:zz", "not hexadecimal"),
        (f"v1:{'00' * 32},v1:{'11' * 32}", "given twice"),
        (f"bad id:{'00' * 32}", "name versions with"),
        ("v1:" + "00" * 16, "32 bytes"),
    ],
)
def test_a_malformed_keyring_is_refused(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_keyring(value)
