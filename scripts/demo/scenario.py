"""The demo scenario, built from the seed documents (../shared/seeds, DOMAIN.md).

- Kungsbacka's IOP with Erikshjälpen Second Hand: income-support recipients first, others only
  where places remain.
- Halmstad: 150 places for people on ekonomiskt bistånd aged 18-64, with the municipality as
  employer (home-care service assistants) and companies in retail and logistics.
- The Kalmar län ESF project across eight municipalities: 418 planned participants, a goal of at
  least 60 % in sysselsättning at exit, with the insatser Kalejdo (Oskarshamn, for women) and
  Sökandelots (Västervik, supported employment for people with disabilities).

Dates are shifted to 2026 so the scenario runs in the present. Participants are synthetic: their
personnummer have valid dates and check digits but are generated at random, and a few referrals
are deliberately broken to show how bad input is handled. Deterministic for a given seed.
"""

from __future__ import annotations

import calendar
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar

from scripts.demo.journeys import Journeys
from services.intake.personnummer import format_with_check
from shared.contracts.envelope import Envelope, EventData, new_event
from shared.contracts.municipal import (
    AgreementKind,
    AgreementSigned,
    Allocation,
    AllocationMode,
    AllocationRoundRequested,
    Budget,
    Contribution,
    ContributionDelivered,
    ContributionKind,
    CostCategory,
    CostReported,
    CriterionAssessment,
    Eligibility,
    FundingShare,
    OutcomeReported,
    PartnerRegistered,
    PartnerVetted,
    PlaceEligibility,
    Preferences,
    PriorityRule,
    ProgrammeDefined,
    ReferralReceived,
    Reservation,
    Weekday,
)
from shared.contracts.partner import (
    Absence,
    AttendanceReported,
    PlacementChangeReported,
    PlacementEndReported,
)
from shared.contracts.tenants import Tenant
from shared.contracts.vocabulary import (
    SYSSELSATTNING,
    AbsenceReason,
    ActivityType,
    ConsentPurpose,
    EndReason,
    FollowUpPoint,
    Gender,
    IopCriterion,
    OutcomeSource,
    OutcomeStatus,
    PartnerKind,
    PlacementAction,
    TargetGroup,
)
from shared.luhn import organisationsnummer

YEAR = 2026
KUNGSBACKA, HALMSTAD = "1384", "1380"
KALMAR_MUNICIPALITIES = ("0880", "0882", "0883", "0881", "0862", "0861", "0834", "0840")
KUNGSBACKA_IOP, HALMSTAD_150, KALMAR_ESF = "kungsbacka-iop", "halmstad-150", "kalmar-lan-esf"
# Helsingborg's steps from a few hours a week to work (seed 004), played with individual plans.
HELSINGBORG, HELSINGBORG_STEG = "1283", "helsingborg-steg-for-steg"
# The regional ESF project belongs to the association of the eight municipalities, a tenant of
# its own: it defines the programme and signs its agreements; the municipalities refer.
KALMAR_OWNER = Tenant.owner("kommunforbundet-kalmar-lan")


def _source(municipality: str) -> str:
    return f"urn:kommun:{municipality}"


def programmes() -> list[ProgrammeDefined]:
    return [
        ProgrammeDefined(
            programme_id=KUNGSBACKA_IOP,
            name="Kungsbacka: IOP med Erikshjälpen Second Hand",
            owner="Kungsbacka kommun, Gymnasium & Arbetsmarknad",
            municipalities=[KUNGSBACKA],
            period_start=date(YEAR, 1, 1),
            period_end=date(YEAR + 1, 12, 31),
            capacity=12,
            planned_participants=40,
            goal_sysselsattning=0.5,
            eligibility=Eligibility(min_age=18, max_age=64),
            priority=PriorityRule.INCOME_SUPPORT_FIRST,
            # The labour-market unit allocates the places at its monthly meeting, and holds 8 of
            # the 12 for income-support recipients for two weeks before others may have them.
            allocation=Allocation(mode=AllocationMode.ROUNDS, weekdays=[Weekday.MONDAY]),
            reserved=Reservation(places=8, days=14),
            # An offer not answered in a week expires, and its place goes to the next in line.
            offer_response_days=7,
            activities=[
                ActivityType.ARBETSTRANING,
                ActivityType.PRAKTIK,
                ActivityType.LANGUAGE_TRAINING,
            ],
        ),
        ProgrammeDefined(
            programme_id=HALMSTAD_150,
            name="Halmstad: 150 platser för personer med ekonomiskt bistånd",
            owner="Halmstads kommun",
            municipalities=[HALMSTAD],
            period_start=date(YEAR, 1, 1),
            period_end=date(YEAR + 1, 12, 31),
            capacity=150,
            planned_participants=150,
            goal_sysselsattning=None,
            eligibility=Eligibility(min_age=18, max_age=64, requires_income_support=True),
            priority=PriorityRule.REFERRAL_DATE,
            activities=[
                ActivityType.INTRODUCTION,
                ActivityType.EDUCATION,
                ActivityType.PRAKTIK,
                ActivityType.LANGUAGE_TRAINING,
                ActivityType.ARBETSTRANING,
                ActivityType.COACHING,
                ActivityType.STUDY_PLANNING,
            ],
        ),
        ProgrammeDefined(
            programme_id=KALMAR_ESF,
            name="Kalmar län: ESF-projekt i åtta kommuner",
            owner="Kommunförbundet Kalmar län",
            municipalities=list(KALMAR_MUNICIPALITIES),
            period_start=date(YEAR, 1, 1),
            period_end=date(YEAR + 2, 11, 30),
            capacity=90,
            planned_participants=418,
            goal_sysselsattning=0.60,
            # The Kalmar län project: 21 MSEK, two thirds from the ESF.
            budget=Budget(
                total_sek=21_000_000,
                funding=[
                    FundingShare(funder="Europeiska socialfonden", share=2 / 3),
                    FundingShare(funder="Kalmar läns kommuner", share=1 / 3),
                ],
            ),
            eligibility=Eligibility(
                min_age=16,
                max_age=64,
                accepted_target_groups=[
                    TargetGroup.YOUNG,
                    TargetGroup.NEWLY_ARRIVED,
                    TargetGroup.LONG_TERM_UNEMPLOYED,
                    TargetGroup.DISABILITY,
                ],
            ),
            priority=PriorityRule.REFERRAL_DATE,
            activities=[
                ActivityType.COACHING,
                ActivityType.PRAKTIK,
                ActivityType.SUPPORTED_EMPLOYMENT,
                ActivityType.EDUCATION,
            ],
            # One project across eight municipalities: any of them may handle its participants'
            # consents and follow-ups, each such step audited.
            cross_municipality_case_handling=True,
        ),
        ProgrammeDefined(
            programme_id=HELSINGBORG_STEG,
            name="Helsingborg: steg för steg från sysselsättning till arbete",
            owner="Helsingborgs stad, arbetsmarknadsförvaltningen",
            municipalities=[HELSINGBORG],
            period_start=date(YEAR, 1, 1),
            period_end=date(YEAR + 1, 12, 31),
            capacity=6,
            planned_participants=6,
            goal_sysselsattning=None,
            eligibility=Eligibility(min_age=18, max_age=64),
            priority=PriorityRule.REFERRAL_DATE,
            activities=[ActivityType.INTRODUCTION, ActivityType.ARBETSTRANING],
        ),
    ]


@dataclass(frozen=True)
class PartnerPlan:
    partner: PartnerRegistered
    agreement: AgreementSigned


_AGREEMENT_KINDS = {
    PartnerKind.IOP_NON_PROFIT: AgreementKind.IOP,
    PartnerKind.SOCIAL_CLAUSE_EMPLOYER: AgreementKind.SOCIAL_CLAUSE,
    PartnerKind.MUNICIPAL_WORKPLACE: AgreementKind.MUNICIPAL,
}
_MUNICIPALITY = "Kommunen (arbetsmarknadsenheten)"
# Made up, as every number in the demo: a valid organisationsnummer of the municipal kind.
_MUNICIPALITY_ORGNR = organisationsnummer("212000999")


def partners() -> list[PartnerPlan]:
    def plan(
        partner_id: str,
        orgnr9: str,
        name: str,
        kind: PartnerKind,
        municipality: str,
        programme: str,
        places: int,
        activities: list[ActivityType],
        eligibility: PlaceEligibility | None = None,
    ) -> PartnerPlan:
        return PartnerPlan(
            PartnerRegistered(
                partner_id=partner_id,
                organisationsnummer=organisationsnummer(orgnr9),
                name=name,
                kind=kind,
                municipality=municipality,
            ),
            AgreementSigned(
                agreement_id=f"{partner_id}-{programme}",
                partner_id=partner_id,
                programme_id=programme,
                places=places,
                activities=activities,
                period_start=date(YEAR, 1, 1),
                period_end=date(YEAR + 1, 12, 31),
                kind=_AGREEMENT_KINDS[kind],
                # Co-financed by both parties, as an IOP must be, and evaluated together; the
                # parties by organisationsnummer, which is what co-financing is checked by.
                parties=[name, _MUNICIPALITY],
                party_ids=[organisationsnummer(orgnr9), _MUNICIPALITY_ORGNR],
                contributions=[
                    Contribution(
                        party=name,
                        party_id=organisationsnummer(orgnr9),
                        kind=ContributionKind.STAFF_HOURS,
                        amount=places * 200,
                    ),
                    Contribution(
                        party=_MUNICIPALITY,
                        party_id=_MUNICIPALITY_ORGNR,
                        kind=ContributionKind.MONEY,
                        amount=places * 25_000,
                    ),
                ],
                evaluation_plan="Gemensam utvärdering varje halvår: platser, deltagare, utfall.",
                eligibility=eligibility,
            ),
        )

    return [
        plan(
            "erikshjalpen-kungsbacka",
            "802011111",
            "Erikshjälpen Second Hand Kungsbacka",
            PartnerKind.IOP_NON_PROFIT,
            KUNGSBACKA,
            KUNGSBACKA_IOP,
            12,
            [ActivityType.ARBETSTRANING, ActivityType.LANGUAGE_TRAINING],
        ),
        plan(
            "halmstad-hemtjanst",
            "212000120",
            "Halmstads kommun, hemtjänsten",
            PartnerKind.MUNICIPAL_WORKPLACE,
            HALMSTAD,
            HALMSTAD_150,
            60,
            [ActivityType.PRAKTIK, ActivityType.ARBETSTRANING],
        ),
        plan(
            "halland-handel",
            "556701234",
            "Handelsbolaget i Halmstad (sociala hänsyn)",
            PartnerKind.SOCIAL_CLAUSE_EMPLOYER,
            HALMSTAD,
            HALMSTAD_150,
            40,
            [ActivityType.PRAKTIK],
        ),
        plan(
            "halland-logistik",
            "556709876",
            "Logistikcentrum Halmstad (sociala hänsyn)",
            PartnerKind.SOCIAL_CLAUSE_EMPLOYER,
            HALMSTAD,
            HALMSTAD_150,
            50,
            [ActivityType.PRAKTIK, ActivityType.ARBETSTRANING],
        ),
        plan(
            "kalejdo-oskarshamn",
            "212000088",
            "Kalejdo, Oskarshamns kommun",
            PartnerKind.MUNICIPAL_WORKPLACE,
            "0882",
            KALMAR_ESF,
            25,
            [ActivityType.COACHING, ActivityType.EDUCATION],
            # For women (the Kalmar län project's insats): intake decides who is eligible.
            PlaceEligibility(genders=[Gender.FEMALE]),
        ),
        plan(
            "sokandelots-vastervik",
            "212000089",
            "Sökandelots, Västerviks kommun",
            PartnerKind.MUNICIPAL_WORKPLACE,
            "0883",
            KALMAR_ESF,
            30,
            [ActivityType.SUPPORTED_EMPLOYMENT],
            # Supported employment for people with a disability: a special category that only
            # intake holds, so placement learns only who is eligible.
            PlaceEligibility(target_groups=[TargetGroup.DISABILITY]),
        ),
        plan(
            "fangelset-hotell",
            "556712345",
            "Fängelset Hotell & Konferens",
            PartnerKind.SOCIAL_CLAUSE_EMPLOYER,
            "0883",
            KALMAR_ESF,
            10,
            [ActivityType.PRAKTIK],
        ),
        plan(
            "kalmar-ame",
            "212000087",
            "Arbetsmarknadsenheten, Kalmar kommun",
            PartnerKind.MUNICIPAL_WORKPLACE,
            "0880",
            KALMAR_ESF,
            25,
            [ActivityType.PRAKTIK, ActivityType.COACHING],
        ),
        plan(
            "pingstkyrkan-second-hand",
            "802022222",
            "Pingstkyrkans second hand, Helsingborg",
            PartnerKind.IOP_NON_PROFIT,
            HELSINGBORG,
            HELSINGBORG_STEG,
            6,
            [ActivityType.ARBETSTRANING],
        ),
    ]


@dataclass
class Month:
    number: int
    referrals: list[Envelope[ReferralReceived]] = field(default_factory=list)
    broken: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, raw value)

    @property
    def last_day(self) -> date:
        return (
            date(YEAR, self.number + 1, 1) - timedelta(days=1)
            if self.number < 12
            else date(YEAR, 12, 31)
        )


class Scenario:
    """Referrals month by month, and how placements end and what follows (seeded)."""

    MONTHS = 10

    def __init__(self, participants: int, seed: int) -> None:
        self.seed = seed
        self.random = random.Random(seed)
        self.participants = participants
        self.months = [Month(n) for n in range(1, self.MONTHS + 1)]
        self.expected_rejections: dict[str, int] = {}
        self._serial = 0
        # Follow-up answers and exit details have a generator of their own, so adding them left
        # the rest of the scenario (who is referred, which placements end) as it was.
        self._follow_up_random = random.Random(seed + 1)
        # And so do the partners' and caseworkers' answers to offers, and attendance.
        self._lifecycle_random = random.Random(seed + 2)
        # And why hours were missed, added later still.
        self._absence_random = random.Random(seed + 3)
        # Exits while waiting, a return, a move and a new number (journeys.py).
        self.journeys = Journeys()
        self._build()

    # --- referrals -------------------------------------------------------------------------

    def _build(self) -> None:
        shares = ((KALMAR_ESF, 0.52), (HALMSTAD_150, 0.34), (KUNGSBACKA_IOP, 0.14))
        for programme, share in shares:
            for _ in range(round(self.participants * share)):
                month = self.random.choice(self.months)
                month.referrals.append(self._referral(programme, month))
        self._add_the_kalmar_case()
        self._add_bad_input()
        self._add_a_newcomer()
        for month in self.months:
            month.referrals.sort(key=lambda e: e.data.referral_date)

    def _person(
        self, on: date, min_age: int, max_age: int, female_share: float = 0.5
    ) -> tuple[str, date]:
        """A synthetic person aged min_age..max_age on the day `on`, and still no older than
        max_age when intake receives the referral: the demo fixes that day at the end of the
        played months, up to sixteen months later, and intake reckons age on it."""
        age = self.random.randint(min_age, max(min_age, max_age - 2))
        born = on.replace(year=on.year - age) - timedelta(days=self.random.randint(1, 360))
        female = self.random.random() < female_share
        self._serial += 1
        # Serial parity carries legal gender: even for women, odd for men.
        serial = (self._serial * 2 + (0 if female else 1)) % 1000
        return format_with_check(born, serial), born

    def _referral(self, programme: str, month: Month) -> Envelope[ReferralReceived]:
        day = date(YEAR, month.number, self.random.randint(1, 28))
        if programme == KUNGSBACKA_IOP:
            municipality = KUNGSBACKA
            income_support = self.random.random() < 0.6
            groups = self.random.sample(
                [TargetGroup.NEWLY_ARRIVED, TargetGroup.YOUNG, TargetGroup.LONG_TERM_UNEMPLOYED],
                k=1,
            )
            personnummer, _ = self._person(day, 19, 60)
        elif programme == HALMSTAD_150:
            municipality = HALMSTAD
            income_support = self.random.random() < 0.93  # a few are referred without: rejected
            groups = [TargetGroup.LONG_TERM_UNEMPLOYED]
            personnummer, _ = self._person(day, 18, 64)
        else:
            municipality = self.random.choice(KALMAR_MUNICIPALITIES)
            income_support = self.random.random() < 0.4
            groups = self.random.sample(
                [
                    TargetGroup.YOUNG,
                    TargetGroup.NEWLY_ARRIVED,
                    TargetGroup.LONG_TERM_UNEMPLOYED,
                    TargetGroup.DISABILITY,
                ],
                k=self.random.randint(1, 2),
            )
            personnummer, _ = self._person(day, 16, 60, female_share=0.55)
        # Most consent to sharing placement details with the partner and to follow-up contact.
        consents = [
            purpose
            for purpose, share in (
                (ConsentPurpose.SHARE_WITH_PARTNER, 0.75),
                (ConsentPurpose.FOLLOW_UP_CONTACT, 0.9),
                (ConsentPurpose.FUNDER_REPORTING, 0.9),
            )
            if self._lifecycle_random.random() < share
        ]
        hours = self._lifecycle_random.choice([None, None, None, 10, 20])
        referral = ReferralReceived(
            referral_id=f"{municipality}-{YEAR}-{len(self._all_referrals()) + 1:05d}",
            personnummer=personnummer,
            municipality=municipality,
            programme_id=programme,
            income_support=income_support,
            target_groups=groups,
            referral_date=day,
            consents=consents,
            preferences=Preferences(max_hours_per_week=hours),
        )
        if programme == HALMSTAD_150 and not income_support:
            self._expect("INCOME_SUPPORT_REQUIRED")
        return new_event(referral, source=_source(municipality), municipality=municipality)

    def _all_referrals(self) -> list[Envelope[ReferralReceived]]:
        return [r for month in self.months for r in month.referrals]

    def _expect(self, code: str) -> None:
        self.expected_rejections[code] = self.expected_rejections.get(code, 0) + 1

    def _add_the_kalmar_case(self) -> None:
        """One person referred by two municipalities of the regional programme: one participant."""
        first = next(r for r in self._all_referrals() if r.data.programme_id == KALMAR_ESF)
        other = next(m for m in KALMAR_MUNICIPALITIES if m != first.data.municipality)
        again = first.data.model_copy(
            update={
                "referral_id": f"{other}-{YEAR}-again",
                "municipality": other,
                "referral_date": first.data.referral_date + timedelta(days=3),
            }
        )
        # In the same month, while the first enrolment is open: once a person has left, a new
        # referral is a return, not a duplicate.
        month = next(m for m in self.months if first in m.referrals)
        month.referrals.append(new_event(again, source=_source(other), municipality=other))
        self._expect("ALREADY_ENROLLED")

    def _add_a_newcomer(self) -> None:
        """A newcomer referred to Halmstad under a samordningsnummer; later the person gets a
        personnummer (scripts/demo/journeys.py)."""
        newcomer = Journeys.newcomer_referral(f"{HALMSTAD}-{YEAR}-nyanland", date(YEAR, 2, 10), 771)
        self.journeys.newcomer = newcomer
        self.months[1].referrals.append(
            new_event(newcomer, source=_source(HALMSTAD), municipality=HALMSTAD)
        )

    def referrals_by_id(self) -> dict[str, ReferralReceived]:
        return {r.data.referral_id: r.data for r in self._all_referrals()}

    def _add_bad_input(self) -> None:
        month = self.months[len(self.months) // 2]
        template = next(r for r in month.referrals if r.data.programme_id == HALMSTAD_150)

        def variant(suffix: str, **changes: object) -> Envelope[ReferralReceived]:
            data = template.data.model_copy(
                update={"referral_id": f"{template.data.referral_id}-{suffix}", **changes}
            )
            return new_event(data, source=_source(HALMSTAD), municipality=HALMSTAD)

        good = template.data.personnummer
        wrong_check = good[:-1] + str((int(good[-1]) + 1) % 10)
        month.referrals += [
            variant("pnr1", personnummer=wrong_check),
            variant("pnr2", personnummer="19891331-1234"),
            variant("pnr3", personnummer="not-a-number"),
            variant("prog", programme_id="goteborg-okant-program"),
            variant("age", personnummer=self._person(template.data.referral_date, 70, 75)[0]),
        ]
        for code in ("INVALID_PERSONNUMMER",) * 3 + ("UNKNOWN_PROGRAMME", "AGE_OUT_OF_RANGE"):
            self._expect(code)
        schema_broken = json.loads(template.model_dump_json())
        schema_broken["id"] = "7c4c1b8e-4b5e-4a53-9f4b-0d3b5c2f9a11"
        schema_broken["data"].pop("programme_id")
        schema_broken["data"]["referral_id"] += "-schema"
        month.broken += [
            (b"1380-broken-1", b'{"specversion": "1.0", "type": "insats.referral.received.v1", '),
            (b"1380-broken-2", json.dumps(schema_broken).encode()),
        ]
        self._expect("INVALID_JSON")
        self._expect("SCHEMA_VIOLATION")

    # --- what partners and caseworkers report ------------------------------------------------

    _EXIT_PROFILES: ClassVar[dict[str, list[tuple[OutcomeStatus, float]]]] = {
        KALMAR_ESF: [
            (OutcomeStatus.UNSUBSIDISED_WORK, 0.22),
            (OutcomeStatus.SUBSIDISED_WORK, 0.14),
            (OutcomeStatus.STUDIES, 0.18),
            (OutcomeStatus.PRAKTIK, 0.16),
            (OutcomeStatus.JOB_SEEKING, 0.18),
            (OutcomeStatus.SICK_OR_UNAVAILABLE, 0.07),
            (OutcomeStatus.MOVED, 0.05),
        ],
        HALMSTAD_150: [
            (OutcomeStatus.UNSUBSIDISED_WORK, 0.20),
            (OutcomeStatus.SUBSIDISED_WORK, 0.15),
            (OutcomeStatus.STUDIES, 0.12),
            (OutcomeStatus.PRAKTIK, 0.08),
            (OutcomeStatus.JOB_SEEKING, 0.30),
            (OutcomeStatus.SICK_OR_UNAVAILABLE, 0.10),
            (OutcomeStatus.PARENTAL_LEAVE, 0.05),
        ],
        KUNGSBACKA_IOP: [
            (OutcomeStatus.UNSUBSIDISED_WORK, 0.15),
            (OutcomeStatus.SUBSIDISED_WORK, 0.15),
            (OutcomeStatus.STUDIES, 0.15),
            (OutcomeStatus.PRAKTIK, 0.10),
            (OutcomeStatus.JOB_SEEKING, 0.35),
            (OutcomeStatus.SICK_OR_UNAVAILABLE, 0.10),
        ],
    }

    def endings(
        self, active: list[dict[str, str]], month: Month
    ) -> list[tuple[Envelope[EventData], Envelope[EventData]]]:
        """For placements that have run two months or more, some end this month: the partner
        reports the end and the caseworker the status at exit."""
        pairs: list[tuple[Envelope[EventData], Envelope[EventData]]] = []
        for placement in active:
            started = date.fromisoformat(placement["start_date"])
            if (month.last_day - started).days < 60 or self.random.random() > 0.45:
                continue
            end = min(month.last_day, started + timedelta(days=self.random.randint(60, 150)))
            end = max(end, started)
            status = self._draw(self._EXIT_PROFILES[placement["programme_id"]])
            reason = {
                OutcomeStatus.UNSUBSIDISED_WORK: EndReason.MOVED_TO_WORK,
                OutcomeStatus.SUBSIDISED_WORK: EndReason.MOVED_TO_WORK,
                OutcomeStatus.STUDIES: EndReason.MOVED_TO_STUDIES,
                OutcomeStatus.SICK_OR_UNAVAILABLE: EndReason.SICK,
                OutcomeStatus.MOVED: EndReason.MOVED_AWAY,
            }.get(status, EndReason.COMPLETED)
            municipality = placement["municipality"]
            end_report = PlacementEndReported(
                placement_id=placement["placement_id"],
                participant_id=placement["participant_id"],
                reason=reason,
                end_date=end,
            )
            outcome = OutcomeReported(
                report_id=f"exit-{placement['placement_id']}",
                participant_id=placement["participant_id"],
                programme_id=placement["programme_id"],
                municipality=municipality,
                follow_up=FollowUpPoint.AT_EXIT,
                status=status,
                income_support=status
                in {OutcomeStatus.JOB_SEEKING, OutcomeStatus.SICK_OR_UNAVAILABLE},
                source=OutcomeSource.CASEWORKER,
                observed_on=end,
                **self._exit_details(status),
            )
            pairs.append(
                (
                    new_event(
                        end_report,
                        source=f"urn:partner:{placement['partner_id']}",
                        municipality=municipality,
                    ),
                    new_event(outcome, source=_source(municipality), municipality=municipality),
                )
            )
        return pairs

    def _exit_details(self, status: OutcomeStatus) -> dict[str, Any]:
        """What Kolada's "resultat vid avslut" asks of work and studies."""
        draw = self._follow_up_random
        if status in {OutcomeStatus.UNSUBSIDISED_WORK, OutcomeStatus.SUBSIDISED_WORK}:
            return {
                "employment_months": draw.choice([0.5, 3, 6, 12, 12]),
                "municipal_labour_market_job": status is OutcomeStatus.SUBSIDISED_WORK
                and draw.random() < 0.6,
            }
        if status is OutcomeStatus.STUDIES:
            return {"studies_with_student_aid": draw.random() < 0.7}
        return {}

    # Where people are at a follow-up, given where they were at exit.
    _LATER: ClassVar[dict[OutcomeStatus, list[tuple[OutcomeStatus, float]]]] = {
        OutcomeStatus.UNSUBSIDISED_WORK: [
            (OutcomeStatus.UNSUBSIDISED_WORK, 0.85),
            (OutcomeStatus.JOB_SEEKING, 0.15),
        ],
        OutcomeStatus.SUBSIDISED_WORK: [
            (OutcomeStatus.SUBSIDISED_WORK, 0.6),
            (OutcomeStatus.UNSUBSIDISED_WORK, 0.2),
            (OutcomeStatus.JOB_SEEKING, 0.2),
        ],
        OutcomeStatus.STUDIES: [
            (OutcomeStatus.STUDIES, 0.65),
            (OutcomeStatus.UNSUBSIDISED_WORK, 0.2),
            (OutcomeStatus.JOB_SEEKING, 0.15),
        ],
        OutcomeStatus.PRAKTIK: [
            (OutcomeStatus.UNSUBSIDISED_WORK, 0.3),
            (OutcomeStatus.SUBSIDISED_WORK, 0.15),
            (OutcomeStatus.PRAKTIK, 0.2),
            (OutcomeStatus.JOB_SEEKING, 0.35),
        ],
    }
    _STUCK: ClassVar[list[tuple[OutcomeStatus, float]]] = [
        (OutcomeStatus.UNSUBSIDISED_WORK, 0.15),
        (OutcomeStatus.SUBSIDISED_WORK, 0.1),
        (OutcomeStatus.STUDIES, 0.1),
        (OutcomeStatus.JOB_SEEKING, 0.5),
        (OutcomeStatus.SICK_OR_UNAVAILABLE, 0.15),
    ]

    def follow_up_answers(
        self, due: list[dict[str, Any]], at_exit: dict[tuple[str, str], str]
    ) -> list[Envelope[EventData]]:
        """Caseworkers answer most follow-ups that fell due (insats.follow-up.due.v1); about
        one in ten is left unanswered, to show up as overdue. `at_exit` is each participant's
        status at exit by (programme, participant)."""
        draw = self._follow_up_random
        answers: list[Envelope[EventData]] = []
        for item in sorted(due, key=lambda d: d["follow_up_id"]):
            if draw.random() < 0.1:
                continue
            before = at_exit.get((item["programme_id"], item["participant_id"]))
            profile = self._LATER.get(OutcomeStatus(before), self._STUCK) if before else self._STUCK
            status = self._draw(profile, draw)
            working = status in SYSSELSATTNING - {OutcomeStatus.PRAKTIK}
            report = OutcomeReported(
                report_id=f"{item['follow_up_id']}",
                participant_id=item["participant_id"],
                programme_id=item["programme_id"],
                municipality=item["municipality"],
                follow_up=FollowUpPoint(item["follow_up"]),
                status=status,
                income_support=not working and draw.random() < 0.8,
                source=OutcomeSource.REGISTER if draw.random() < 0.5 else OutcomeSource.CASEWORKER,
                observed_on=date.fromisoformat(item["due_date"]),
                **self._exit_details(status),
            )
            municipality = item["municipality"]
            answers.append(
                new_event(report, source=_source(municipality), municipality=municipality)
            )
        return answers

    def _draw(
        self, profile: list[tuple[OutcomeStatus, float]], draw: random.Random | None = None
    ) -> OutcomeStatus:
        roll, total = (draw or self.random).random(), 0.0
        for status, weight in profile:
            total += weight
            if roll < total:
                return status
        return profile[-1][0]

    def tenants(self) -> list[Tenant]:
        """Everyone the scenario publishes as: what an operator onboards before the demo."""
        found = {KALMAR_OWNER}
        for programme in programmes():
            found |= {Tenant.municipality(m) for m in programme.municipalities}
        found |= {Tenant.partner(item.partner.partner_id) for item in partners()}
        return sorted(found)

    def setup_events(self) -> list[Envelope[EventData]]:
        events: list[Envelope[EventData]] = []
        owners = {KALMAR_ESF: KALMAR_OWNER}
        for programme in programmes():
            owner = owners.get(
                programme.programme_id, Tenant.municipality(programme.municipalities[0])
            )
            events.append(new_event(programme, source=owner.urn, municipality=owner.kommunkod))
        for quarter in range(4):
            # Kalmar's accounts for each quarter of the played year, from its owner.
            start = date(YEAR, 3 * quarter + 1, 1)
            cost = CostReported(
                report_id=f"kostnad-{YEAR}-q{quarter + 1}",
                programme_id=KALMAR_ESF,
                period_start=start,
                period_end=date(
                    YEAR, 3 * quarter + 3, calendar.monthrange(YEAR, 3 * quarter + 3)[1]
                ),
                category=CostCategory.STAFF,
                amount_sek=1_650_000,
                note="Projektledning, coacher och handledare",
            )
            events.append(new_event(cost, source=KALMAR_OWNER.urn, municipality=None))
        owner_names = {p.programme_id: p.owner for p in programmes()}
        for item in partners():
            m = item.partner.municipality
            # A partner is registered, vetted and contracted by the owner of its programme.
            owner = owners.get(item.agreement.programme_id, Tenant.municipality(m))
            for data in (
                item.partner,
                *(
                    [_vetted(item.partner.partner_id, owner_names[item.agreement.programme_id])]
                    if item.partner.kind is PartnerKind.IOP_NON_PROFIT
                    else []
                ),
                item.agreement,
            ):
                events.append(new_event(data, source=owner.urn, municipality=m))
            agreement = item.agreement
            if agreement.programme_id == KALMAR_ESF:
                # Half the partner's committed hours delivered in the first half-year.
                committed = agreement.contributions[0]
                delivered = ContributionDelivered(
                    report_id=f"levererat-{agreement.agreement_id}-{YEAR}h1",
                    agreement_id=agreement.agreement_id,
                    programme_id=KALMAR_ESF,
                    party=committed.party,
                    party_id=committed.party_id,
                    kind=committed.kind,
                    amount=(committed.amount or 0) / 2 or 1,
                    period_start=date(YEAR, 1, 1),
                    period_end=date(YEAR, 6, 30),
                )
                events.append(new_event(delivered, source=owner.urn, municipality=m))
        return events

    # --- offers, attendance ----------------------------------------------------------------

    def rounds(self, month: Month) -> list[Envelope[AllocationRoundRequested]]:
        """Kungsbacka's allocation meeting at the end of each played month: the places go down
        the queue as it stands then. (Live, its Monday 08:00 rounds come by the clock.)"""
        return self.rounds_on(month.last_day)

    def rounds_on(self, day: date) -> list[Envelope[AllocationRoundRequested]]:
        request = AllocationRoundRequested(
            programme_id=KUNGSBACKA_IOP,
            on=day,
            requested_by="Kungsbacka, arbetsmarknadsenhetens fördelningsmöte",
        )
        return [new_event(request, source=_source(KUNGSBACKA), municipality=KUNGSBACKA)]

    def responses(
        self, offers: list[dict[str, Any]], month: Month
    ) -> list[Envelope[PlacementChangeReported]]:
        """Most offers are accepted and started within the week; a few are declined; and of the
        last month's offers at Kungsbacka, one is never answered, so that it expires."""
        events = []
        for offer in offers:
            if (
                month.number == self.MONTHS
                and offer["programme_id"] == KUNGSBACKA_IOP
                and self.journeys.unanswered is None
            ):
                self.journeys.unanswered = offer["placement_id"]
                continue
            offered = date.fromisoformat(offer["offered_on"])
            respond = min(offered + timedelta(days=2), max(month.last_day, offered))
            if self._lifecycle_random.random() < 0.08:
                steps = [(PlacementAction.DECLINE, respond, "vill hellre något annat")]
            else:
                start = min(offered + timedelta(days=7), max(month.last_day, respond))
                steps = [(PlacementAction.ACCEPT, respond, ""), (PlacementAction.START, start, "")]
            for action, on, reason in steps:
                report = PlacementChangeReported(
                    placement_id=offer["placement_id"],
                    participant_id=offer["participant_id"],
                    action=action,
                    on=on,
                    reason=reason,
                    reported_by=offer["partner_id"],
                )
                events.append(
                    new_event(
                        report,
                        source=f"urn:partner:{offer['partner_id']}",
                        municipality=offer["municipality"],
                    )
                )
        return events

    def _absences(self, missed: float, poor: bool) -> list[Absence]:
        """Why: a poor week is now and then a sick week (no risk), else unexcused; a good
        week's few missed hours are sickness, care of a child, or given no reason."""
        if missed <= 0:
            return []
        draw = self._absence_random.random()
        if poor:
            reason = AbsenceReason.SICK if draw < 0.3 else AbsenceReason.UNEXCUSED
        elif draw < 0.5:
            reason = AbsenceReason.SICK
        elif draw < 0.7:
            reason = AbsenceReason.CARE_OF_CHILD
        else:
            return []
        return [Absence(reason=reason, hours=missed)]

    def attendance(
        self, active: list[dict[str, Any]], month: Month
    ) -> list[Envelope[AttendanceReported]]:
        """The partners' weekly attendance for the month's last week; a few attend poorly."""
        week_start = month.last_day - timedelta(days=6)
        events = []
        for placement in active:
            if date.fromisoformat(placement["start_date"]) > week_start:
                continue
            expected = float(placement.get("hours_per_week") or 20)
            poor = self._lifecycle_random.random() < 0.07
            share = (
                self._lifecycle_random.uniform(0.1, 0.4)
                if poor
                else self._lifecycle_random.uniform(0.8, 1.0)
            )
            attended = round(expected * share, 1)
            report = AttendanceReported(
                placement_id=placement["placement_id"],
                participant_id=placement["participant_id"],
                period_start=week_start,
                period_end=month.last_day,
                expected_hours=expected,
                attended_hours=attended,
                absences=self._absences(round(expected - attended, 1), poor),
                # The ESF project's participants sign their time reports.
                participant_confirmed_on=month.last_day + timedelta(days=1)
                if placement["programme_id"] == KALMAR_ESF
                else None,
            )
            events.append(
                new_event(
                    report,
                    source=f"urn:partner:{placement['partner_id']}",
                    municipality=placement["municipality"],
                )
            )
        return events


def _vetted(partner_id: str, assessed_by: str) -> PartnerVetted:
    """A municipality's assessment of its IOP partner against every criterion of Kungsbacka's
    invitation (seed 001)."""
    return PartnerVetted(
        partner_id=partner_id,
        assessed_by=assessed_by,
        assessments=[
            CriterionAssessment(
                criterion=criterion,
                met=True,
                assessed_on=date(YEAR - 1, 11, 20),
                note="Bedömt vid IOP-beredningen hösten 2025",
            )
            for criterion in IopCriterion
        ],
    )
