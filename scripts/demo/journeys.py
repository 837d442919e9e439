"""The journeys the demo plays beyond a placement's end: residents who leave while waiting, one
who returns after leaving, one who moves from Kalmar to Nybro in the middle of the regional
programme, and a newcomer whose samordningsnummer is replaced by a personnummer.

Each is what a municipal case system would send, by personnummer, on the municipality's own
referrals topic. Who is chosen follows from what the platform has done so far (who still waits,
who is enrolled), read back by the runner, so the choices are deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.intake.personnummer import format_with_check
from shared.contracts.envelope import Envelope, EventData, new_event
from shared.contracts.municipal import (
    ConsentRecorded,
    IdentityLinkRecorded,
    ParticipationExitRecorded,
    ReferralReceived,
    ResidenceChangeRecorded,
)
from shared.contracts.vocabulary import ConsentPurpose, ExitReason, TargetGroup

LEAVE_MONTH, MOVE_MONTH, LINK_MONTH, RETURN_MONTH = 4, 5, 6, 8
# Those who leave while waiting, and why: the reasons a caseworker records most often.
LEAVING = (ExitReason.WITHDRAWN, ExitReason.NO_CONTACT, ExitReason.FOUND_WORK, ExitReason.WITHDRAWN)
KALMAR, NYBRO = "0880", "0881"
CASE_SYSTEM = "Verksamhetssystemet, handläggare"


def _source(municipality: str) -> str:
    return f"urn:kommun:{municipality}"


@dataclass
class Journeys:
    """What the demo has made happen, for its summary."""

    left_waiting: list[tuple[ReferralReceived, ExitReason]] = field(default_factory=list)
    returned: ReferralReceived | None = None
    moved: ReferralReceived | None = None
    newcomer: ReferralReceived | None = None
    new_number: str | None = None
    # The offer left unanswered, and whether it expired when the days had passed.
    unanswered: str | None = None
    expired: bool = False

    @staticmethod
    def newcomer_referral(referral_id: str, day: date, serial: int) -> ReferralReceived:
        """A newcomer to Halmstad, known by a samordningsnummer when referred."""
        born = date(1996, 8, 19)
        return ReferralReceived(
            referral_id=referral_id,
            personnummer=format_with_check(born, serial, coordination=True),
            municipality="1380",
            programme_id="halmstad-150",
            income_support=True,
            target_groups=[TargetGroup.NEWLY_ARRIVED, TargetGroup.LONG_TERM_UNEMPLOYED],
            referral_date=day,
            consents=[ConsentPurpose.FOLLOW_UP_CONTACT],
        )

    def events(
        self,
        month: int,
        last_day: date,
        referrals: dict[str, ReferralReceived],
        waiting: Collection[str],
        enrolled: Collection[str],
    ) -> list[Envelope[EventData]]:
        """The month's journey events. `waiting` are the referral ids of those enrolled and not
        yet offered a place; `enrolled` those of every open enrolment."""
        events: list[Envelope[EventData]] = []
        if month == LEAVE_MONTH:
            for referral_id, reason in zip(sorted(waiting), LEAVING, strict=False):
                referral = referrals[referral_id]
                self.left_waiting.append((referral, reason))
                events.append(self._exit(referral, reason, last_day - timedelta(days=3)))
        if month == MOVE_MONTH:
            movable = sorted(
                r
                for r in enrolled
                if referrals[r].municipality == KALMAR
                and referrals[r].programme_id == "kalmar-lan-esf"
            )
            if movable:
                self.moved = referrals[movable[0]]
                move = ResidenceChangeRecorded(
                    request_id=f"flytt-{self.moved.referral_id}",
                    personnummer=self.moved.personnummer,
                    municipality=KALMAR,
                    to_municipality=NYBRO,
                    moved_on=last_day - timedelta(days=14),
                    recorded_by=CASE_SYSTEM,
                )
                events.append(new_event(move, source=_source(KALMAR), municipality=KALMAR))
        if month == LINK_MONTH and self.newcomer is not None:
            born = date(1996, 8, 19)
            self.new_number = format_with_check(born, 802)
            link = IdentityLinkRecorded(
                request_id=f"koppling-{self.newcomer.referral_id}",
                municipality="1380",
                samordningsnummer=self.newcomer.personnummer,
                personnummer=self.new_number,
                recorded_on=last_day - timedelta(days=10),
                recorded_by="Skatteverket via folkbokföringen, handläggare",
            )
            # Under the new number at once: the caseworker records the person's consent.
            consent = ConsentRecorded(
                request_id=f"samtycke-{self.newcomer.referral_id}",
                personnummer=self.new_number,
                municipality="1380",
                purpose=ConsentPurpose.FUNDER_REPORTING,
                granted=True,
                source=CASE_SYSTEM,
                recorded_on=last_day - timedelta(days=9),
            )
            events += [
                new_event(data, source=_source("1380"), municipality="1380")
                for data in (link, consent)
            ]
        if month == RETURN_MONTH:
            withdrew = [r for r, reason in self.left_waiting if reason is ExitReason.WITHDRAWN]
            if withdrew:
                first = withdrew[0]
                self.returned = first.model_copy(
                    update={
                        "referral_id": f"{first.referral_id}-ater",
                        "referral_date": last_day - timedelta(days=20),
                    }
                )
                events.append(
                    new_event(
                        self.returned,
                        source=_source(first.municipality),
                        municipality=first.municipality,
                    )
                )
        return events

    @staticmethod
    def _exit(referral: ReferralReceived, reason: ExitReason, on: date) -> Envelope[EventData]:
        request = ParticipationExitRecorded(
            request_id=f"avslut-{referral.referral_id}",
            personnummer=referral.personnummer,
            municipality=referral.municipality,
            programme_id=referral.programme_id,
            reason=reason,
            exited_on=max(on, referral.referral_date),
            recorded_by=CASE_SYSTEM,
        )
        return new_event(
            request, source=_source(referral.municipality), municipality=referral.municipality
        )
