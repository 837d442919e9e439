"""IOP's co-financing rule, as placement applies it and outcomes reports it: every party to the
agreement contributes. Parties are told apart by organisationsnummer where the agreement gives
them (two spellings of a name are not two parties), by name otherwise; and a contribution of
zero, or of no stated amount, is no contribution."""

from __future__ import annotations

from collections.abc import Collection

from shared.contracts.municipal import Contribution


def party_key(identifier: str) -> str:
    """An organisationsnummer with or without its hyphen is the same party."""
    return identifier.replace("-", "")


def counts(contribution: Contribution) -> bool:
    return contribution.amount is not None and contribution.amount > 0


def parties_without_contribution(
    parties: Collection[str], contributions: Collection[Contribution], party_ids: Collection[str]
) -> tuple[str, ...]:
    counted = [c for c in contributions if counts(c)]
    if party_ids:
        by_id = {party_key(c.party_id) for c in counted if c.party_id}
        return tuple(p for p in party_ids if party_key(p) not in by_id)
    if parties:
        by_name = {c.party for c in counted}
        return tuple(p for p in parties if p not in by_name)
    return ("(no parties named)",)
