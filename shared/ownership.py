"""Who may change what: the claims each service checks against the tenant that sent an input.

Pure rules, shared so that the three services, each reading the same inputs in the same order,
reach the same verdict: a programme belongs to the tenant that first defined it, a partner to
the tenant that first registered it, and each may be changed only by its owner. A participant is
a municipality's to act on if that municipality referred them, or if the programme lets every
municipality in it handle its cases (a regional programme's explicit rule, audited when used).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from shared.contracts.tenants import Tenant, TenantKind


@dataclass(frozen=True)
class Claim:
    """The verdict on one claim: allowed, and on what ground (for the audit)."""

    allowed: bool
    ground: str


def owner_after(current_owner: str | None, tenant: Tenant) -> str | None:
    """The owner of a programme or partner once `tenant` defines it: the tenant itself when no
    one owned it yet or when it already did; None when someone else owns it (refused)."""
    if current_owner is None or current_owner == tenant.key:
        return tenant.key
    return None


def may_act_on_participant(
    tenant: Tenant,
    referred_by: Collection[str],
    *,
    shared_in: Collection[Collection[str]] = (),
) -> Claim:
    """May this municipality record a consent, request an erasure or answer a follow-up for a
    participant referred by `referred_by` (kommunkoder)? `shared_in` holds, for each programme of
    the participant that lets its municipalities share case handling, those municipalities."""
    kommunkod = tenant.kommunkod
    if kommunkod is None:
        return Claim(False, "not a municipality")
    if kommunkod in referred_by:
        return Claim(True, "referred by this municipality")
    if any(kommunkod in municipalities for municipalities in shared_in):
        return Claim(True, "cross_municipality_case_handling of a programme they share")
    return Claim(False, "referred by another municipality")


def may_report_on_placement(tenant: Tenant, partner_id: str, municipality: str) -> bool:
    """A placement is reported on by its partner, or by the participant's municipality (its
    caseworkers). Programme owners do not report on placements (they have no such channel)."""
    if tenant.kind is TenantKind.PARTNER:
        return tenant.id == partner_id
    return tenant.kind is TenantKind.MUNICIPALITY and tenant.id == municipality
