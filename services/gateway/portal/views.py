"""What a page shows, folded from the organisation's own stream (oldest first): pure functions,
so each rule is tested without a browser. A partner's stream carries its own view of each
placement; a municipality's, a resident view of every event about its residents."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

PARTNER_PLACEMENT = "insats.partner-placement.updated.v1"
PARTNER_NOTICE = "insats.partner-support.notice.v1"
RESIDENT_EVENT = "insats.resident-event.v1"

# A resident's standing in the programme, after the last event of each kind.
_STANDING = {
    "insats.participant.enrolled.v1": "väntar på plats",
    "insats.placement.offered.v1": "erbjuden plats",
    "insats.placement.started.v1": "i insats",
    "insats.placement.ended.v1": "placering avslutad",
    "insats.participation.exited.v1": "avslutad i programmet",
}
# A change of a placement, by the status it leaves: a declined or expired offer puts the
# person back in line.
_CHANGED = {
    "accepterad": "plats accepterad",
    "avbojd": "väntar på plats",
    "pagar": "i insats",
    "pausad": "pausad",
}
WAITING = frozenset({"väntar på plats", "erbjuden plats", "placering avslutad"})
# An offer unanswered for longer than this is shown as late: most programmes answer within days.
OFFER_LATE_DAYS = 7

LABELS = {
    "insats.participant.enrolled.v1": "Inskriven",
    "insats.referral.rejected.v1": "Anvisning avvisad",
    "insats.consent.changed.v1": "Samtycke ändrat",
    "insats.participant.moved.v1": "Flyttat",
    "insats.participant.handed-over.v1": "Överlämnad",
    "insats.participation.exited.v1": "Avslutad i programmet",
    "insats.placement.offered.v1": "Erbjuden plats",
    "insats.placement.started.v1": "Placering startad",
    "insats.placement.changed.v1": "Placering ändrad",
    "insats.placement.ended.v1": "Placering avslutad",
    "insats.placement.at-risk.v1": "Risk för avbrott (frånvaro)",
    "insats.attendance.recorded.v1": "Närvaro rapporterad",
    "insats.support-check-in.due.v1": "Stödsamtal ska göras",
    "insats.support-task.opened.v1": "Stödåtgärd öppnad",
    "insats.support-task.closed.v1": "Stödåtgärd klar",
    "insats.plan.adopted.v1": "Plan fastställd",
    "insats.plan.progressed.v1": "Planen framskriden",
    "insats.outcome.recorded.v1": "Uppföljning registrerad",
    "insats.follow-up.due.v1": "Uppföljning ska göras",
    "insats.identity.linked.v1": "Identitet kopplad",
    "insats.participants.merged.v1": "Sammanslagen",
}


# The contract's codes as the pages say them (the codes stay the forms' values).
WORDS = {
    # placements
    "erbjuden": "erbjuden",
    "accepterad": "accepterad",
    "avbojd": "avböjd",
    "pagar": "pågår",
    "pausad": "pausad",
    "avslutad": "avslutad",
    # absence
    "sjuk": "sjuk",
    "vard_av_barn": "vård av barn",
    "giltig": "annan giltig frånvaro",
    "ogiltig": "ogiltig frånvaro",
    # ends
    "genomford": "genomförd",
    "till_arbete": "gick till arbete",
    "till_studier": "gick till studier",
    "avbrott": "avbrott",
    "flyttat": "flyttat",
    "annat": "annat",
    # support check-ins
    "gar_bra": "går bra",
    "behover_stod": "behöver stöd",
    "ingen_kontakt": "ingen kontakt",
    # follow-ups and their answers
    "vid_avslut": "vid avslut",
    "4_veckor": "efter 4 veckor",
    "3_manader": "efter 3 månader",
    "6_manader": "efter 6 månader",
    "12_manader": "efter 12 månader",
    "arbete_osubventionerat": "arbete utan stöd",
    "arbete_subventionerat": "arbete med stöd (t.ex. lönebidrag)",
    "studier": "studier",
    "praktik_arbetstraning": "praktik eller arbetsträning",
    "arbetssokande": "arbetssökande",
    "sjuk_ej_tillganglig": "sjuk eller inte tillgänglig",
    "foraldraledig": "föräldraledig",
    "okand": "okänt",
}


def word(code: object) -> str:
    """How a page says a code of the contract: in Swedish words, or the code itself."""
    return WORDS.get(str(code), str(code))


@dataclass(frozen=True)
class PartnerPlacement:
    placement_id: str
    participant_id: str | None
    status: str
    workplace_id: str | None
    activity: str | None
    hours_per_week: int | None
    offered_on: str | None
    start_date: str | None
    end_date: str | None
    municipal_contact: str | None


@dataclass(frozen=True)
class CheckIn:
    check_in_id: str
    placement_id: str
    due_date: str


@dataclass(frozen=True)
class PartnerView:
    offers: list[PartnerPlacement]
    ongoing: list[PartnerPlacement]
    finished: list[PartnerPlacement]
    check_ins: list[CheckIn]

    def placement(self, placement_id: str) -> PartnerPlacement | None:
        for found in (*self.offers, *self.ongoing, *self.finished):
            if found.placement_id == placement_id:
                return found
        return None


def partner_view(events: list[dict[str, Any]]) -> PartnerView:
    latest: dict[str, PartnerPlacement | None] = {}
    check_ins: dict[str, CheckIn] = {}
    for event in events:
        data = event.get("data", {})
        if event.get("type") == PARTNER_PLACEMENT:
            status = data.get("status")
            latest[data["placement_id"]] = (
                None  # withdrawn: the person was erased
                if status is None
                else PartnerPlacement(
                    placement_id=data["placement_id"],
                    participant_id=data.get("participant_id"),
                    status=status,
                    workplace_id=data.get("workplace_id"),
                    activity=data.get("activity"),
                    hours_per_week=data.get("hours_per_week"),
                    offered_on=data.get("offered_on"),
                    start_date=data.get("start_date"),
                    end_date=data.get("end_date"),
                    municipal_contact=data.get("municipal_contact"),
                )
            )
        elif event.get("type") == PARTNER_NOTICE and data.get("check_in_id"):
            check_ins[data["check_in_id"]] = CheckIn(
                data["check_in_id"], data["placement_id"], data["due_date"]
            )
    shown = [p for p in latest.values() if p is not None]
    return PartnerView(
        offers=[p for p in shown if p.status == "erbjuden"],
        ongoing=[p for p in shown if p.status in {"accepterad", "pagar", "pausad"}],
        finished=[p for p in shown if p.status in {"avbojd", "avslutad"}],
        check_ins=[c for c in check_ins.values() if latest.get(c.placement_id) is not None],
    )


@dataclass(frozen=True)
class Step:
    occurred_at: str
    label: str
    facts: dict[str, Any]


@dataclass
class Resident:
    participant_id: str
    programme_id: str | None = None
    referral_id: str | None = None
    birth_year: int | None = None
    gender: str | None = None
    referral_date: str | None = None
    standing: str = "väntar på plats"
    journey: list[Step] = field(default_factory=list)
    offered_on: str | None = None  # the open offer's day, while one waits for an answer
    offered_by: str | None = None  # and its partner


@dataclass(frozen=True)
class OpenOffer:
    resident: Resident
    days: int  # since it was made

    @property
    def late(self) -> bool:
        return self.days > OFFER_LATE_DAYS


@dataclass(frozen=True)
class FollowUp:
    follow_up_id: str
    participant_id: str
    programme_id: str
    follow_up: str
    due_date: str
    participation: int | None


@dataclass(frozen=True)
class CaseworkerView:
    residents: list[Resident]
    waiting: dict[str, list[Resident]]  # by programme, longest waiting first
    overdue: list[FollowUp]
    offers: list[OpenOffer]  # waiting for the partner's answer, oldest first

    def resident(self, participant_id: str) -> Resident | None:
        return next((r for r in self.residents if r.participant_id == participant_id), None)


def caseworker_view(events: list[dict[str, Any]], today: date) -> CaseworkerView:
    residents: dict[str, Resident] = {}
    due: dict[tuple[str, str, int | None], FollowUp] = {}
    answered: set[tuple[str, str, int | None]] = set()
    for event in events:
        if event.get("type") != RESIDENT_EVENT:
            continue
        data = event.get("data", {})
        source_type, facts = data.get("source_type", ""), data.get("facts", {})
        subject = data.get("subject_id", "")
        if source_type == "insats.referral.rejected.v1":
            continue  # a referral, not a resident
        if source_type == "insats.participant.erased.v1":
            residents.pop(subject, None)
            continue
        resident = residents.setdefault(subject, Resident(subject))
        if source_type == "insats.participant.enrolled.v1":
            resident.programme_id = facts.get("programme_id")
            resident.referral_id = facts.get("referral_id")
            resident.birth_year = facts.get("birth_year")
            resident.gender = facts.get("gender")
            resident.referral_date = facts.get("referral_date")
        if source_type == "insats.placement.changed.v1":
            resident.standing = _CHANGED.get(str(facts.get("status")), resident.standing)
        else:
            resident.standing = _STANDING.get(source_type, resident.standing)
        if source_type == "insats.placement.offered.v1":
            resident.offered_on = str(facts.get("offered_on") or data.get("occurred_at", ""))[:10]
            resident.offered_by = facts.get("partner_id")
        resident.journey.append(
            Step(
                str(data.get("occurred_at", ""))[:10],
                LABELS.get(source_type, source_type),
                facts,
            )
        )
        key = (subject, str(facts.get("follow_up")), facts.get("participation"))
        if source_type == "insats.follow-up.due.v1":
            due[key] = FollowUp(
                follow_up_id=facts["follow_up_id"],
                participant_id=subject,
                programme_id=facts["programme_id"],
                follow_up=facts["follow_up"],
                due_date=facts["due_date"],
                participation=facts.get("participation"),
            )
        elif source_type == "insats.outcome.recorded.v1":
            answered.add(key)
    listed = [r for r in residents.values() if r.programme_id is not None]
    waiting: dict[str, list[Resident]] = defaultdict(list)
    for resident in sorted(listed, key=lambda r: r.referral_date or ""):
        if resident.standing in WAITING and resident.programme_id:
            waiting[resident.programme_id].append(resident)
    overdue = sorted(
        (
            f
            for key, f in due.items()
            if key not in answered and key[0] in residents and f.due_date < today.isoformat()
        ),
        key=lambda f: f.due_date,
    )
    offers = sorted(
        (
            OpenOffer(r, _days_between(r.offered_on, today))
            for r in listed
            if r.standing == "erbjuden plats" and r.offered_on
        ),
        key=lambda o: -o.days,
    )
    return CaseworkerView(listed, dict(waiting), overdue, offers)


def _days_between(day: str | None, today: date) -> int:
    try:
        return max(0, (today - date.fromisoformat(day or "")).days)
    except ValueError:
        return 0


PAGE_SIZE = 50


@dataclass(frozen=True)
class Listing:
    """One page of the residents a search finds."""

    shown: list[Resident]
    found: int
    page: int
    pages: int
    search: str


def listing(residents: list[Resident], search: str, page: int) -> Listing:
    """The residents whose id, case reference (ärende) or programme holds `search` (any case),
    most recently referred first, `PAGE_SIZE` a page; a page past the last shows the last."""
    wanted = search.strip().casefold()
    found = [
        r
        for r in residents
        if not wanted
        or any(
            wanted in (value or "").casefold()
            for value in (r.participant_id, r.referral_id, r.programme_id)
        )
    ]
    found.sort(key=lambda r: r.referral_date or "", reverse=True)
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return Listing(
        found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], len(found), page, pages, search.strip()
    )


def page_number(asked: str) -> int:
    """The page a query's `sida` names; 1 for anything else. ASCII only: str.isdigit() takes
    "²", which int() refuses."""
    return int(asked) if asked.isascii() and asked.isdigit() and len(asked) < 6 else 1
