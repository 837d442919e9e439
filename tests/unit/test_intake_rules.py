from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta

from services.intake import domain
from services.intake.personnummer import format_with_check, parse
from shared.contracts.intake import ParticipantMoved, ParticipationExited
from shared.contracts.municipal import (
    Eligibility,
    ParticipationExitRecorded,
    ProgrammeDefined,
    ReferralReceived,
    ResidenceChangeRecorded,
)
from shared.contracts.vocabulary import ExitReason, InputRefusal, RejectionReason, TargetGroup
from tests.unit.factories import programme, referral

KNOWN = frozenset({"1380", "1384", "0880", "0882"})
LOOKUP = domain.person_lookup(b"deployment-key")


def decide(
    ref: ReferralReceived | None = None,
    prog: ProgrammeDefined | None = None,
    enrolled: Collection[str] = (),
) -> domain.Decision:
    ref = ref or referral()
    person = parse(ref.personnummer, ref.referral_date)
    return domain.decide(ref, person, LOOKUP(person), prog, KNOWN, enrolled, ref.referral_date)


def test_an_eligible_referral_is_enrolled_under_a_pseudonym() -> None:
    decision = decide(prog=programme())
    assert isinstance(decision, domain.Enrolment)
    enrolled = decision.participant
    assert enrolled.participant_id.startswith("p-")
    assert "19900517" not in enrolled.model_dump_json()
    assert enrolled.age_at_referral == 35
    assert enrolled.birth_year == 1990


def test_the_same_person_has_one_lookup_whichever_municipality_refers_them() -> None:
    number = format_with_check(date(1985, 2, 3), 456)
    kalmar = referral(personnummer=number, municipality="0880")
    oskarshamn = referral(personnummer=number.replace("19850203", "850203-"), municipality="0882")
    first = LOOKUP(parse(kalmar.personnummer, kalmar.referral_date))
    second = LOOKUP(parse(oskarshamn.personnummer, oskarshamn.referral_date))
    assert first == second


def test_another_deployment_key_gives_another_lookup() -> None:
    person = parse(referral().personnummer, date(2026, 3, 2))
    assert domain.person_lookup(b"other-key")(person) != LOOKUP(person)


def test_an_invalid_personnummer_is_rejected_with_its_reason() -> None:
    rejection = domain.identify(referral(personnummer="19900517-2340"), date(2026, 3, 2))
    assert isinstance(rejection, domain.Rejection)
    assert rejection.reason is RejectionReason.INVALID_PERSONNUMMER
    assert rejection.rule == "personnummer.check_digit"
    assert "kontrollsiffran" in rejection.message_sv


def test_an_unknown_municipality_code_is_rejected() -> None:
    decision = decide(ref=referral(municipality="9999"), prog=programme())
    assert isinstance(decision, domain.Rejection)
    assert decision.reason is RejectionReason.UNKNOWN_MUNICIPALITY


def test_an_unknown_programme_is_rejected() -> None:
    decision = decide(prog=None)
    assert isinstance(decision, domain.Rejection)
    assert decision.reason is RejectionReason.UNKNOWN_PROGRAMME


def test_age_outside_the_programmes_range_names_the_age_rule() -> None:
    young = referral(personnummer=format_with_check(date(2009, 1, 1), 10))
    decision = decide(ref=young, prog=programme())
    assert isinstance(decision, domain.Rejection)
    assert decision.reason is RejectionReason.AGE_OUT_OF_RANGE
    assert decision.rule == "eligibility.age"
    assert "17" in decision.message


def test_the_age_limits_are_inclusive() -> None:
    exactly_64 = referral(personnummer=format_with_check(date(1962, 3, 2), 10))
    assert isinstance(decide(ref=exactly_64, prog=programme()), domain.Enrolment)


def test_a_resident_of_a_municipality_outside_the_programme_is_rejected() -> None:
    decision = decide(ref=referral(municipality="1384"), prog=programme())
    assert isinstance(decision, domain.Rejection)
    assert decision.reason is RejectionReason.MUNICIPALITY_NOT_IN_PROGRAMME


def test_a_programme_for_income_support_recipients_rejects_others() -> None:
    rules = Eligibility(min_age=18, max_age=64, requires_income_support=True)
    decision = decide(ref=referral(income_support=False), prog=programme(eligibility=rules))
    assert isinstance(decision, domain.Rejection)
    assert decision.reason is RejectionReason.INCOME_SUPPORT_REQUIRED


def test_a_programme_with_target_groups_needs_one_of_them() -> None:
    rules = Eligibility(accepted_target_groups=[TargetGroup.DISABILITY, TargetGroup.YOUNG])
    outside = referral(target_groups=[TargetGroup.NEWLY_ARRIVED], income_support=False)
    inside = referral(target_groups=[TargetGroup.DISABILITY], income_support=False)
    rejected = decide(ref=outside, prog=programme(eligibility=rules))
    assert isinstance(rejected, domain.Rejection)
    assert rejected.reason is RejectionReason.TARGET_GROUP_NOT_ACCEPTED
    assert isinstance(decide(ref=inside, prog=programme(eligibility=rules)), domain.Enrolment)


def test_income_support_counts_as_a_target_group() -> None:
    rules = Eligibility(accepted_target_groups=[TargetGroup.INCOME_SUPPORT])
    decision = decide(ref=referral(target_groups=[]), prog=programme(eligibility=rules))
    assert isinstance(decision, domain.Enrolment)
    assert TargetGroup.INCOME_SUPPORT in decision.participant.target_groups


def test_a_second_referral_of_an_enrolled_person_to_the_same_programme_is_rejected() -> None:
    decision = decide(prog=programme(), enrolled={"halmstad-150"})
    assert isinstance(decision, domain.Rejection)
    assert decision.reason is RejectionReason.ALREADY_ENROLLED


def test_bad_data_is_told_apart_from_ineligibility() -> None:
    assert RejectionReason.INVALID_PERSONNUMMER in domain.BAD_INPUT
    assert RejectionReason.AGE_OUT_OF_RANGE not in domain.BAD_INPUT


# --- exits -------------------------------------------------------------------------------------

STORED = [
    {
        "programme_id": "kalmar",
        "referral_id": "r-old",
        "municipality": "0880",
        "referral_date": "2025-03-01",
        "exited_on": "2025-09-01",
    },
    {
        "programme_id": "kalmar",
        "referral_id": "r-1",
        "municipality": "0880",
        "referral_date": "2026-02-01",
    },
]


def _exit_request(
    reason: ExitReason = ExitReason.WITHDRAWN, on: date = date(2026, 3, 2)
) -> ParticipationExitRecorded:
    return ParticipationExitRecorded(
        request_id="x-1",
        participant_id="p-1",
        municipality="0880",
        programme_id="kalmar",
        reason=reason,
        exited_on=on,
        recorded_by="Procapita, handläggare",
    )


def test_an_exit_closes_the_open_enrolment_and_names_its_referral() -> None:
    enrolment = domain.open_enrolment(STORED, "kalmar")
    assert enrolment is not None and enrolment.referral_id == "r-1"
    assert domain.exit_refusal(enrolment, _exit_request(), date(2026, 3, 2)) is None
    exited = domain.exited(enrolment, "p-1", _exit_request())
    assert (exited.referral_id, exited.municipality, exited.exited_on) == (
        "r-1",
        "0880",
        date(2026, 3, 2),
    )


def test_an_exit_without_an_open_enrolment_is_refused() -> None:
    assert domain.open_enrolment(STORED[:1], "kalmar") is None  # exited already
    refusal = domain.exit_refusal(None, _exit_request(), date(2026, 3, 2))
    assert refusal is not None and refusal.code is InputRefusal.NOT_ENROLLED


def test_an_exit_is_dated_within_the_enrolment_and_not_in_the_future() -> None:
    enrolment = domain.open_enrolment(STORED, "kalmar")
    received = date(2026, 3, 2)
    for day in (date(2026, 1, 31), date(2026, 3, 4)):
        refusal = domain.exit_refusal(enrolment, _exit_request(on=day), received)
        assert refusal is not None and refusal.code is InputRefusal.EXIT_DATE_OUT_OF_RANGE
    assert domain.exit_refusal(enrolment, _exit_request(on=date(2026, 3, 3)), received) is None


def test_long_term_sickness_never_leaves_intake_as_such() -> None:
    enrolment = domain.open_enrolment(STORED, "kalmar")
    assert enrolment is not None
    sick = domain.exited(enrolment, "p-1", _exit_request(ExitReason.LONG_TERM_SICK))
    assert sick.reason is ExitReason.UNAVAILABLE
    assert "langvarigt_sjuk" not in sick.model_dump_json()
    for reason in set(ExitReason) - {ExitReason.LONG_TERM_SICK}:
        assert domain.published_exit_reason(reason) is reason


def test_a_person_who_left_may_be_referred_again_as_a_new_participation() -> None:
    returned = decide(prog=programme(), enrolled=())  # the earlier enrolment is closed
    assert isinstance(returned, domain.Enrolment)
    ref = referral()
    person = parse(ref.personnummer, ref.referral_date)
    second = domain.decide(
        ref, person, LOOKUP(person), programme(), KNOWN, (), ref.referral_date, participation=2
    )
    assert isinstance(second, domain.Enrolment)
    assert second.participant.participation == 2
    assert second.participant.participant_id == returned.participant.participant_id
    assert domain.participations(STORED, "kalmar") == 2
    assert domain.participations(STORED, "halmstad-150") == 0


def test_only_an_open_enrolment_makes_a_referral_already_enrolled() -> None:
    decision = decide(prog=programme(), enrolled={"halmstad-150"})
    assert isinstance(decision, domain.Rejection)
    assert decision.reason is RejectionReason.ALREADY_ENROLLED


# --- moves -------------------------------------------------------------------------------------


def _move(to: str = "0881", on: date = date(2026, 5, 4)) -> ResidenceChangeRecorded:
    return ResidenceChangeRecorded(
        request_id="m-1",
        participant_id="p-1",
        municipality="0880",
        to_municipality=to,
        moved_on=on,
        recorded_by="Treserva, handläggare",
    )


def test_an_enrolment_follows_a_move_within_its_programme_and_ends_outside_it() -> None:
    [enrolment] = domain.open_enrolments(STORED)
    covering = programme(programme_id="kalmar", municipalities=["0880", "0881", "0882"])
    followed = domain.moved(enrolment, "p-1", _move(), covering)
    assert isinstance(followed, ParticipantMoved)
    assert (followed.from_municipality, followed.to_municipality) == ("0880", "0881")
    assert followed.moved_on == date(2026, 5, 4)
    elsewhere = domain.moved(enrolment, "p-1", _move(), programme(municipalities=["0880"]))
    assert isinstance(elsewhere, ParticipationExited)
    assert elsewhere.reason is ExitReason.MOVED_AWAY
    assert elsewhere.exited_on == date(2026, 5, 3)  # the last day before the move
    assert domain.moved(enrolment, "p-1", _move(to="0880"), covering) is None


def test_a_move_is_of_someone_enrolled_to_a_real_municipality_and_has_happened() -> None:
    enrolments = domain.open_enrolments(STORED)
    known = KNOWN | {"0881"}
    received = date(2026, 5, 4)
    assert domain.move_refusal(enrolments, _move(), known, received) is None
    cases = [
        ([], _move(), InputRefusal.NOT_ENROLLED),
        (enrolments, _move(to="0999"), InputRefusal.UNKNOWN_MUNICIPALITY),
        (enrolments, _move(on=date(2026, 5, 6)), InputRefusal.MOVE_DATE_OUT_OF_RANGE),
    ]
    for open_ones, request, code in cases:
        refusal = domain.move_refusal(open_ones, request, known, received)
        assert refusal is not None and refusal.code is code


def test_a_move_out_of_the_area_hands_the_person_over_with_the_programmes_open_to_them() -> None:
    [enrolment] = domain.open_enrolments(STORED)
    ended = domain.moved(enrolment, "p-1", _move(), programme(municipalities=["0880"]))
    assert isinstance(ended, ParticipationExited)
    candidates = [
        programme(programme_id="nybro-steg", municipalities=["0881"]),
        programme(programme_id="lan", municipalities=["0880", "0881"]),
        programme(programme_id="kalmar", municipalities=["0880"]),
        programme(
            programme_id="over",
            municipalities=["0881"],
            period_start=date(2025, 1, 1),
            period_end=date(2026, 5, 3),
        ),
    ]
    open_there = domain.open_to(candidates, "0881", date(2026, 5, 4))
    assert open_there == ["lan", "nybro-steg"]
    handover = domain.handed_over(ended, _move(), open_there)
    assert (handover.from_municipality, handover.to_municipality) == ("0880", "0881")
    assert (handover.programme_id, handover.participation) == (enrolment.programme_id, 1)
    assert (handover.moved_on, handover.programmes) == (date(2026, 5, 4), ["lan", "nybro-steg"])


# --- merges -------------------------------------------------------------------------------------


def test_two_participants_merge_unless_both_were_in_one_programme() -> None:
    kept = {
        "enrolments": [
            {"programme_id": "intro", "referral_date": "2026-02-01"},
        ],
        "consents": {"uppfoljning": {"granted": False, "on": "2026-02-01"}},
    }
    merged = {
        "enrolments": [{"programme_id": "sfi", "referral_date": "2026-01-10"}],
        "consents": {
            "uppfoljning": {"granted": True, "on": "2026-03-01"},
            "dela_med_partner": {"granted": True, "on": "2026-01-10"},
        },
        "protected_identity": True,
    }
    assert domain.merge_conflict(kept, merged) is None
    record = domain.merged(kept, merged)
    assert [e["programme_id"] for e in record["enrolments"]] == ["sfi", "intro"]
    # Each consent as last recorded under either number; protection if either had it.
    assert record["consents"]["uppfoljning"]["granted"] is True
    assert "dela_med_partner" in record["consents"]
    assert record["protected_identity"] is True
    both = {"enrolments": [{"programme_id": "intro", "referral_date": "2025-05-01"}]}
    assert domain.merge_conflict(kept, both) == "intro"


def test_a_referral_made_before_its_municipality_asked_for_the_erasure_is_refused() -> None:
    asked = datetime(2026, 5, 4, 9, 30, 0, 125_000, tzinfo=UTC)

    refused = domain.sent_before_erasure(asked - timedelta(minutes=5), asked)
    assert refused is not None and refused.reason is RejectionReason.ERASURE_REQUESTED
    # In the same millisecond (what the database keeps of the request's time): before.
    assert domain.sent_before_erasure(asked + timedelta(microseconds=900), asked) is not None


def test_a_referral_made_after_the_erasure_request_or_with_none_is_decided_as_usual() -> None:
    asked = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)

    assert domain.sent_before_erasure(asked + timedelta(milliseconds=1), asked) is None
    assert domain.sent_before_erasure(asked, None) is None
