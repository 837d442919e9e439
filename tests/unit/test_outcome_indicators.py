"""Every indicator against a value computed by hand from a handful of journeys."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from services.outcomes.domain import Journey, Outcome, Placement
from services.outcomes.indicators import (
    CATALOGUE,
    Context,
    Dimension,
    IndicatorResult,
    at_exit_or_last_day,
    current,
    distance_travelled,
    evaluate,
    groups_of,
    indicator,
    lookup,
    protect_line,
)
from shared.contracts.municipal import ProgrammeDefined
from shared.contracts.vocabulary import (
    ActivityType,
    EndReason,
    ExitReason,
    FollowUpPoint,
    Gender,
    LabourMarketStatus,
    OutcomeStatus,
    TargetGroup,
)
from tests.unit.factories import programme

S = OutcomeStatus
L = LabourMarketStatus
MUNICIPALITY = Dimension.MUNICIPALITY
EXIT, W4, M6, M12 = (
    FollowUpPoint.AT_EXIT,
    FollowUpPoint.WEEKS_4,
    FollowUpPoint.MONTHS_6,
    FollowUpPoint.MONTHS_12,
)
KALMAR = programme(
    programme_id="kalmar",
    municipalities=["0880", "0882"],
    period_start=date(2026, 1, 1),
    period_end=date(2027, 12, 31),
    capacity=3,
    planned_participants=418,
    goal_sysselsattning=0.6,
)


def journey(pid: str, **changes: Any) -> Journey:
    values: dict[str, Any] = {
        "programme_id": "kalmar",
        "participant_id": pid,
        "enrolled": True,
        "municipality": "0880",
        "gender": Gender.FEMALE,
        "age_at_referral": 30,
        "income_support": True,
        "referral_date": date(2026, 2, 1),
    }
    values.update(changes)
    return Journey(**values)


def exit_with(pid: str, exit_date: date = date(2026, 6, 1), /, **answers: Any) -> Journey:
    """An exited participant; answers by point name: at_exit=Outcome(...) or a bare status."""
    outcomes = {
        FollowUpPoint(point): answer if isinstance(answer, Outcome) else Outcome(answer)
        for point, answer in answers.items()
    }
    return journey(pid, exited=True, exit_date=exit_date, outcomes=outcomes)


def result(
    name: str,
    journeys: Sequence[Journey],
    as_of: date = date(2027, 12, 31),
    definition: ProgrammeDefined = KALMAR,
    **context: Any,
) -> IndicatorResult:
    ctx = Context.for_programme(definition, as_of, **context)
    return evaluate(lookup(name), journeys, ctx)


def figures(res: IndicatorResult) -> tuple[float | None, float | None, float | None]:
    value = res.total.value
    return value.numerator, value.denominator, value.value


def test_sysselsattning_at_exit_counts_work_studies_and_praktik_against_every_exit() -> None:
    journeys = [
        exit_with("a", vid_avslut=S.UNSUBSIDISED_WORK),
        exit_with("b", vid_avslut=S.SUBSIDISED_WORK),
        exit_with("c", vid_avslut=S.STUDIES),
        exit_with("d", vid_avslut=S.PRAKTIK),
        exit_with("e", vid_avslut=S.JOB_SEEKING),
        exit_with("f"),  # no answer: not a success
        exit_with("g", vid_avslut=S.SICK_OR_UNAVAILABLE),
        journey("h"),  # still in the programme
        exit_with("i", date(2025, 12, 20), vid_avslut=S.STUDIES),  # before the period
        # Not enrolled: only a placement's and an answer's events have arrived so far.
        replace(exit_with("j", vid_avslut=S.STUDIES), enrolled=False),
    ]
    res = result("sysselsattning_vid_avslut@1", journeys)
    # Hand-computed: 4 of 7 exits in the period = 57 %, below the 60 % goal.
    assert figures(res) == (4, 7, 4 / 7)
    assert res.goal == 0.6
    assert res.goal_met is False


def test_resultat_vid_avslut_v2_counts_only_lasting_non_municipal_work_or_csn_studies() -> None:
    journeys = [
        exit_with(
            "a",
            vid_avslut=Outcome(
                S.UNSUBSIDISED_WORK, employment_months=6, municipal_labour_market_job=False
            ),
        ),
        exit_with(
            "b",
            vid_avslut=Outcome(
                S.SUBSIDISED_WORK, employment_months=12, municipal_labour_market_job=True
            ),
        ),
        exit_with(
            "c",
            vid_avslut=Outcome(
                S.UNSUBSIDISED_WORK, employment_months=0.5, municipal_labour_market_job=False
            ),
        ),
        exit_with("d", vid_avslut=Outcome(S.STUDIES, studies_with_student_aid=True)),
        exit_with("e", vid_avslut=Outcome(S.STUDIES, studies_with_student_aid=False)),
        exit_with("f", vid_avslut=Outcome(S.UNSUBSIDISED_WORK)),  # details unknown
        exit_with("g", vid_avslut=S.PRAKTIK),
    ]
    # v2 (Kolada): a and d only. v1, the superseded definition, counted any work or studies.
    assert figures(result("resultat_vid_avslut@2", journeys)) == (2, 7, 2 / 7)
    assert figures(result("resultat_vid_avslut@1", journeys)) == (6, 7, 6 / 7)


def test_esf_immediate_result_counts_work_or_studies_within_four_weeks_of_closed_windows() -> None:
    may = date(2026, 5, 4)  # 4-week follow-up due 1 June
    journeys = [
        exit_with("a", may, vid_avslut=S.JOB_SEEKING, **{"4_veckor": S.STUDIES}),
        exit_with("b", may, vid_avslut=S.UNSUBSIDISED_WORK),
        exit_with("c", may, vid_avslut=S.PRAKTIK, **{"4_veckor": S.PRAKTIK}),  # praktik: no
        exit_with("d", may),
        exit_with("e", may, vid_avslut=S.SUBSIDISED_WORK),
        # Left on 20 June: the four weeks have not passed by 30 June, so not yet counted.
        exit_with("f", date(2026, 6, 20), vid_avslut=S.UNSUBSIDISED_WORK),
    ]
    assert figures(result("esf_direkt_resultat@1", journeys, as_of=date(2026, 6, 30))) == (
        3,
        5,
        3 / 5,
    )


def test_esf_longer_term_result_counts_work_at_six_months_among_those_due() -> None:
    june = date(2026, 6, 1)  # 6-month follow-up due 1 December 2026
    journeys = [
        exit_with("a", june, **{"6_manader": S.UNSUBSIDISED_WORK}),
        exit_with("b", june, **{"6_manader": S.SUBSIDISED_WORK}),
        exit_with("c", june, **{"6_manader": S.STUDIES}),  # studies are not employment
        exit_with("d", june),  # unanswered
        exit_with("e", june, **{"6_manader": S.JOB_SEEKING}),
        exit_with("f", june, **{"6_manader": S.UNSUBSIDISED_WORK}),
        exit_with("g", date(2026, 8, 3), **{"6_manader": S.UNSUBSIDISED_WORK}),  # due Feb 2027
    ]
    assert figures(result("esf_langsiktigt_resultat@1", journeys, as_of=date(2027, 1, 15))) == (
        3,
        6,
        0.5,
    )


def test_a_follow_up_the_programme_does_not_ask_for_gives_no_figure() -> None:
    no_six_months = KALMAR.model_copy(update={"follow_ups": [EXIT, W4]})
    journeys = [exit_with(p, **{"6_manader": S.UNSUBSIDISED_WORK}) for p in "abcdef"]
    res = result("esf_langsiktigt_resultat", journeys, date(2027, 6, 1), no_six_months)
    assert res.total.value.people == 0
    assert res.total.value.value is None


def _support(pid: str, answer: bool | None, point: FollowUpPoint = M6, **kw: Any) -> Journey:
    return exit_with(pid, **{point.value: Outcome(S.JOB_SEEKING, income_support=answer)}, **kw)


def test_self_sufficiency_at_six_months_among_those_who_had_income_support() -> None:
    journeys = [
        _support("a", False),
        _support("b", False),
        _support("c", True),
        _support("d", None),  # unknown: not counted as self-sufficient
        exit_with("e"),  # unanswered
        _support("f", False),
        # Never on income support: not in the denominator.
        journey("g", income_support=False, exited=True, exit_date=date(2026, 6, 1)),
    ]
    res = result("egen_forsorjning_6_manader@1", journeys, as_of=date(2027, 1, 15))
    assert figures(res) == (3, 6, 0.5)


def test_self_sufficiency_at_twelve_months_waits_for_the_twelve_month_follow_up() -> None:
    journeys = [
        _support("a", False, M12),
        _support("b", False, M12),
        _support("c", False, M12),
        _support("d", True, M12),
        exit_with("e"),
    ]
    # Due 1 June 2027: nobody is counted the day before, all five from that day.
    assert (
        result("egen_forsorjning_12_manader", journeys, date(2027, 5, 31)).total.value.people == 0
    )
    assert figures(result("egen_forsorjning_12_manader", journeys, date(2027, 6, 1))) == (
        3,
        5,
        0.6,
    )


def test_reached_participants_are_counted_against_the_plan() -> None:
    journeys = [journey(f"p{i}", gender=Gender.MALE if i < 6 else Gender.FEMALE) for i in range(10)]
    journeys.append(journey("early", referral_date=date(2025, 12, 30)))  # before the period
    res = result("deltagare_mot_plan@1", journeys)
    assert figures(res) == (10, 418, 10 / 418)
    assert res.goal_met is False
    men = next(c for c in res.breakdown[Dimension.GENDER] if c.group == "man")
    # A group has no plan of its own: its count, without a share.
    assert (men.value.numerator, men.value.value) == (6, None)


def _placed(pid: str, *spans: tuple[date, date | None], partner: str = "p1") -> Journey:
    placements = tuple(
        Placement(f"{pid}-{i}", partner, ActivityType.PRAKTIK, start, end)
        for i, (start, end) in enumerate(spans)
    )
    return journey(pid, placements=placements, first_placement=spans[0][0])


def test_places_used_are_place_days_against_capacity_in_the_period_so_far() -> None:
    jan = {d: date(2026, 1, d) for d in range(1, 32)}
    journeys = [
        _placed("a", (jan[1], jan[6])),  # 1-5 January: 5 days (free again on the 6th)
        _placed("b", (jan[3], None)),  # 3-10 January: 8 days
        _placed("c", (date(2025, 12, 20), jan[3])),  # 1-2 January within the period: 2 days
        _placed("d", (jan[5], None), partner="p2"),  # 6 days
        _placed("e", (jan[9], None), partner="p2"),  # 2 days
    ]
    res = result("platsutnyttjande@1", journeys, as_of=jan[10], places_by_partner={"p1": 2})
    # 23 place-days used of 3 places x 10 days = 30.
    assert figures(res) == (23, 30, 23 / 30)
    p1 = next(c for c in res.breakdown[Dimension.PARTNER] if c.group == "p1")
    # p1: 15 of 20 place-days, but only three people: hidden.
    assert (p1.value.numerator, p1.value.denominator, p1.suppressed) == (15, 20, True)


def test_days_from_referral_to_first_placement_is_the_median_wait() -> None:
    referral = date(2026, 2, 1)
    waits = [3, 10, 14, 20, 41]
    journeys = [
        journey(f"p{w}", referral_date=referral, first_placement=referral + timedelta(days=w))
        for w in waits
    ]
    journeys.append(journey("waiting"))  # not placed yet: not in the median
    res = result("dagar_remiss_till_placering@1", journeys)
    assert (res.total.value.people, res.total.value.value) == (5, 14)
    journeys.append(journey("p7", referral_date=referral, first_placement=referral + timedelta(7)))
    assert result("dagar_remiss_till_placering", journeys).total.value.value == 12  # (10+14)/2


def test_the_share_still_in_placement_after_90_and_180_days() -> None:
    m = date(2026, 3, 1)  # +90 days = 30 May, +180 days = 28 August

    def d(month: int, day: int) -> date:
        return date(2026, month, day)

    journeys = [
        _placed("a", (m, None)),
        _placed("b", (m, d(9, 1))),
        _placed("c", (m, d(5, 30))),  # free on the 90th day
        _placed("d", (m, d(4, 1)), (d(6, 1), None)),  # between placements on the 90th day
        _placed("e", (m, d(4, 1)), (d(5, 15), None)),
        _placed("f", (d(11, 1), None)),  # 90 days not yet passed
    ]
    as_of = date(2026, 12, 31)
    assert figures(result("kvar_i_placering_90_dagar@1", journeys, as_of)) == (3, 5, 0.6)
    assert figures(result("kvar_i_placering_180_dagar@1", journeys, as_of)) == (4, 5, 0.8)


def test_a_programme_with_fewer_than_five_exits_shows_no_figure_and_no_verdict() -> None:
    journeys = [exit_with(p, vid_avslut=S.STUDIES) for p in "abcd"]
    res = result("sysselsattning_vid_avslut", journeys)
    assert res.total.suppressed
    assert res.goal_met is None


def test_a_small_group_and_one_more_are_hidden_so_the_small_one_cannot_be_derived() -> None:
    journeys = [exit_with(f"w{i}", vid_avslut=S.STUDIES) for i in range(9)]
    journeys += [
        replace(exit_with(f"m{i}", vid_avslut=S.JOB_SEEKING), gender=Gender.MALE) for i in range(3)
    ]
    res = result("sysselsattning_vid_avslut", journeys)
    cells = {c.group: c.suppressed for c in res.breakdown[Dimension.GENDER]}
    # Men (3) are few; women (9) would reveal them as 12 - 9, so both are hidden.
    assert cells == {"kvinna": True, "man": True}
    assert not res.total.suppressed


def test_overlapping_groups_hide_only_the_small_ones() -> None:
    young, newly_arrived = TargetGroup.YOUNG, TargetGroup.NEWLY_ARRIVED
    many = [
        replace(
            exit_with(f"y{i}", vid_avslut=S.STUDIES),
            target_groups=frozenset({young} if i < 6 else {young, newly_arrived}),
        )
        for i in range(8)
    ]
    cells = {
        c.group: c.suppressed
        for c in result("sysselsattning_vid_avslut", many).breakdown[Dimension.TARGET_GROUP]
    }
    assert cells == {"unga": False, "nyanlanda": True}


def test_secondary_suppression_picks_the_smallest_other_group() -> None:
    counts = {"a": 10, "b": 6, "c": 2, "d": 0, "total": 18}
    assert protect_line(counts, {"c"}) == {"c", "b"}
    assert protect_line(counts, {"c", "b"}) == {"c", "b"}
    assert protect_line(counts, set()) == set()


def test_the_newest_version_of_each_indicator_is_current_and_old_ones_stay_reachable() -> None:
    names = [item.name for item in current()]
    assert "resultat_vid_avslut@2" in names
    assert "resultat_vid_avslut@1" not in names
    assert lookup("resultat_vid_avslut").version == 2
    assert lookup("resultat_vid_avslut@1").version == 1
    assert all(
        item.definition and item.numerator and item.denominator for item in CATALOGUE.values()
    )


def test_a_published_version_cannot_be_redefined() -> None:
    with pytest.raises(ValueError, match="new version"):
        indicator("sysselsattning_vid_avslut", 1, title="x", numerator="x", denominator="x")(
            lambda journeys, ctx, scope: lookup("sysselsattning_vid_avslut").compute(
                journeys, ctx, scope
            )
        )


# --- exits at any point, and the versions that exclude some of them ------------------------


def left(
    pid: str, reason: ExitReason, exit_date: date = date(2026, 6, 1), **answers: Any
) -> Journey:
    """A participant who left for `reason`, placed or not."""
    return replace(exit_with(pid, exit_date, **answers), exit_reason=reason)


def test_exits_while_waiting_are_in_the_denominator_of_every_version() -> None:
    journeys = [
        exit_with("a", vid_avslut=S.UNSUBSIDISED_WORK),
        exit_with("b", vid_avslut=S.STUDIES),
        exit_with("c", vid_avslut=S.JOB_SEEKING),
        # Left before any placement: two who withdrew, one no one could reach.
        left("d", ExitReason.WITHDRAWN),
        left("e", ExitReason.WITHDRAWN, vid_avslut=S.JOB_SEEKING),
        left("f", ExitReason.NO_CONTACT),
        # Found work while waiting, and said so at exit.
        left("g", ExitReason.FOUND_WORK, vid_avslut=S.UNSUBSIDISED_WORK),
    ]
    # Hand-computed: a, b and g in sysselsättning, of seven exits (three of them unplaced).
    assert figures(result("sysselsattning_vid_avslut@1", journeys)) == (3, 7, 3 / 7)
    assert figures(result("sysselsattning_vid_avslut@2", journeys)) == (3, 7, 3 / 7)


def test_version_two_leaves_out_those_who_died_fell_ill_or_moved_and_version_one_does_not() -> None:
    journeys = [
        exit_with("a", vid_avslut=S.UNSUBSIDISED_WORK),
        exit_with("b", vid_avslut=S.STUDIES),
        exit_with("c", vid_avslut=S.PRAKTIK),
        exit_with("d", vid_avslut=S.JOB_SEEKING),
        exit_with("e"),
        left("f", ExitReason.DECEASED),
        left("g", ExitReason.UNAVAILABLE),  # long-term sickness, as it leaves intake
        left("h", ExitReason.MOVED_AWAY),
        left("i", ExitReason.PARENTAL_LEAVE),  # not excluded: counts as not occupied
        # A placement that ended, and with it the programme, because the person moved.
        replace(exit_with("j"), exit_end_reason=EndReason.MOVED_AWAY),
    ]
    # v1: 3 of all 10 exits. v2: 3 of 6 (f, g, h and j left out) = 50 %, below the 60 % goal.
    assert figures(result("sysselsattning_vid_avslut@1", journeys)) == (3, 10, 0.3)
    res = result("sysselsattning_vid_avslut@2", journeys)
    assert figures(res) == (3, 6, 0.5)
    assert res.goal == 0.6 and res.goal_met is False
    # The ESF's v2 leaves out death and sickness only: of the other 8, a and b are in work or
    # studies at exit (c's praktik is not a result for the ESF), once four weeks have passed.
    esf = result("esf_direkt_resultat@2", journeys, as_of=date(2026, 7, 31))
    assert figures(esf) == (2, 8, 2 / 8)


def test_self_sufficiency_v2_leaves_out_those_who_moved_away() -> None:
    journeys = [
        _support("a", False),
        _support("b", False),
        _support("c", True),
        _support("d", False),
        _support("e", None),
        replace(_support("f", True), exit_reason=ExitReason.MOVED_AWAY),
        replace(_support("g", None), exit_reason=ExitReason.DECEASED),
    ]
    as_of = date(2027, 1, 15)
    assert figures(result("egen_forsorjning_6_manader@1", journeys, as_of)) == (3, 7, 3 / 7)
    assert figures(result("egen_forsorjning_6_manader@2", journeys, as_of)) == (3, 5, 3 / 5)


def test_every_exclusion_is_stated_with_its_definition() -> None:
    for item in CATALOGUE.values():
        if item.excludes:
            assert "except" in item.denominator, item.name
            assert item.version > 1, item.name  # version 1 of each excluded no one


def test_a_person_who_moved_counts_where_they_lived_when_they_left() -> None:
    moved = replace(
        exit_with("a", date(2026, 9, 1), vid_avslut=S.UNSUBSIDISED_WORK),
        municipality="0881",
        moves=((date(2026, 10, 1), "0880", "0881"),),
    )
    assert moved.home_on(date(2026, 9, 30)) == "0880"
    assert moved.home_on(date(2026, 10, 1)) == "0881"
    assert moved.home_for_figures == "0880"  # left on 1 September, before the move
    still_in = replace(
        journey("b"), municipality="0881", moves=((date(2026, 4, 1), "0880", "0881"),)
    )
    assert still_in.home_for_figures == "0881"
    journeys = [moved] + [exit_with(p, vid_avslut=S.STUDIES) for p in "cdef"]
    by_municipality = {
        c.group: c.value.people
        for c in result("sysselsattning_vid_avslut@2", journeys).breakdown[Dimension.MUNICIPALITY]
    }
    assert by_municipality == {"0880": 5}


def test_breakdowns_by_municipality_use_the_home_on_the_day_each_figure_is_about() -> None:
    """Five people referred and placed in Kalmar (0880) who moved to Nybro (0881) on 1 June,
    and five who never moved. Referrals and first starts were in Kalmar; on the last day of a
    period that ends before the move they still live there; after it, in Nybro."""
    move = ((date(2026, 6, 1), "0880", "0881"),)
    movers = [
        replace(journey(p), municipality="0881", moves=move, first_placement=date(2026, 3, 2))
        for p in "abcde"
    ]
    stayers = [replace(journey(p), first_placement=date(2026, 3, 2)) for p in "fghij"]

    def people_by_home(name: str, period: tuple[date, date]) -> dict[str, int]:
        found = evaluate(
            lookup(name),
            movers + stayers,
            Context.for_programme(KALMAR, date(2027, 12, 31), period=period),
            [Dimension.MUNICIPALITY],
        )
        return {c.group: c.value.people for c in found.breakdown[Dimension.MUNICIPALITY]}

    spring, year = (date(2026, 1, 1), date(2026, 5, 31)), (date(2026, 1, 1), date(2026, 12, 31))
    for period in (spring, year):
        assert people_by_home("deltagare_paborjat@1", period) == {"0880": 10}
        assert people_by_home("deltagare_mot_plan@2", period) == {"0880": 10}

    def homes_on_last_day(period: tuple[date, date]) -> set[str]:
        ctx = Context.for_programme(KALMAR, date(2027, 1, 1), period=period)
        return {g for j in movers for g in groups_of(j, MUNICIPALITY, at_exit_or_last_day(j, ctx))}

    # Still in the programme: where they live on the period's last day.
    assert (homes_on_last_day(spring), homes_on_last_day(year)) == ({"0880"}, {"0881"})
    # An exit-based figure: the movers who left in August are Nybro's, in Nybro at exit.
    left = [replace(j, exited=True, exit_date=date(2026, 8, 1)) for j in movers]
    found = evaluate(
        lookup("deltagare_avslutat@1"),
        left + stayers,
        Context.for_programme(KALMAR, date(2027, 12, 31), period=year),
        [Dimension.MUNICIPALITY],
    )
    assert {c.group: c.value.people for c in found.breakdown[Dimension.MUNICIPALITY]} == {
        "0880": 0,  # the stayers are still in
        "0881": 5,
    }


def test_reached_is_told_apart_from_started_and_exited() -> None:
    placed = (Placement("pl", "p1", ActivityType.PRAKTIK, date(2026, 3, 2), date(2026, 6, 1)),)
    journeys = [
        *(replace(exit_with(p), first_placement=date(2026, 3, 2), placements=placed) for p in "ab"),
        replace(journey("c"), first_placement=date(2026, 4, 1)),  # started, still placed
        *(left(p, ExitReason.WITHDRAWN) for p in "def"),  # left while waiting
        journey("g"),  # waiting
        replace(journey("h"), first_placement=date(2025, 12, 1)),  # started before the period
    ]
    counts = {
        name: result(name, journeys).total.value.numerator
        for name in (
            "deltagare_mot_plan@2",
            "deltagare_paborjat@1",
            "deltagare_avslutat@1",
            "avslutade_utan_placering@1",
        )
    }
    assert counts == {
        "deltagare_mot_plan@2": 8,
        "deltagare_paborjat@1": 3,
        "deltagare_avslutat@1": 5,
        "avslutade_utan_placering@1": 3,
    }


def test_a_returning_person_is_reached_once_but_each_participation_is_a_journey() -> None:
    journeys = [
        exit_with("a"),
        replace(journey("a"), participation=2, referral_date=date(2026, 7, 1)),
        *(journey(p) for p in "bcd"),
    ]
    assert result("deltagare_mot_plan@2", journeys).total.value.numerator == 4
    assert result("deltagare_mot_plan@1", journeys).total.value.numerator == 5


def test_a_programme_sets_a_goal_on_any_indicator_by_key_or_by_version() -> None:
    goals = KALMAR.model_copy(
        update={
            "goals": {
                "dagar_remiss_till_placering": 30,
                "sysselsattning_vid_avslut@2": 0.5,
                "avslutade_utan_placering": 2,
            }
        }
    )
    placed = [replace(journey(p), first_placement=date(2026, 2, 21)) for p in "abcde"]  # 20 days
    wait = result("dagar_remiss_till_placering", placed, definition=goals)
    assert (wait.goal, wait.goal_met) == (30, True)  # lower is better
    exits = [exit_with(p, vid_avslut=S.STUDIES) for p in "abc"] + [exit_with(p) for p in "de"]
    syss = result("sysselsattning_vid_avslut@2", exits, definition=goals)
    assert (syss.goal, syss.goal_met) == (0.5, True)  # 3 of 5 against the programme's 50 %
    # Not set for version 1: it keeps goal_sysselsattning.
    assert result("sysselsattning_vid_avslut@1", exits, definition=goals).goal == 0.6


def test_who_left_for_work_is_still_in_work_at_3_and_6_months_with_and_without_support() -> None:
    exit_day = date(2026, 6, 1)
    after = exit_day + timedelta(days=20)
    at_work = {"vid_avslut": S.UNSUBSIDISED_WORK}
    journeys = [
        # Supported after the exit (a check-in answered behover_stod opened a task): 6 people.
        *(
            replace(
                exit_with(f"s{i}", exit_day, **at_work, **{"3_manader": S.UNSUBSIDISED_WORK}),
                support_tasks=(after,),
            )
            for i in range(5)
        ),
        replace(
            exit_with("s5", exit_day, **at_work, **{"3_manader": S.JOB_SEEKING}),
            support_tasks=(after,),
        ),
        # Without: 5 people, 3 still in work; one more supported only before the exit.
        *(
            exit_with(f"u{i}", exit_day, **at_work, **{"3_manader": S.SUBSIDISED_WORK})
            for i in range(3)
        ),
        exit_with("u3", exit_day, **at_work, **{"3_manader": S.STUDIES}),
        replace(
            exit_with("u4", exit_day, **at_work), support_tasks=(exit_day - timedelta(days=9),)
        ),
        # Not counted: left for studies, or followed up too recently.
        exit_with("x", exit_day, vid_avslut=S.STUDIES, **{"3_manader": S.UNSUBSIDISED_WORK}),
        exit_with("y", date(2027, 11, 1), **at_work),
    ]
    res = result("kvar_i_arbete_3_manader@1", journeys)
    # Hand-computed: 5 + 3 of 11 in work at three months; 5 of 6 with support, 3 of 5 without.
    assert figures(res) == (8, 11, 8 / 11)
    cells = {
        c.group: (c.value.numerator, c.value.denominator) for c in res.breakdown[Dimension.SUPPORT]
    }
    assert cells == {"med_stod": (5, 6), "utan_stod": (3, 5)}
    # At six months nobody has answered yet: none counts as still in work.
    assert figures(result("kvar_i_arbete_6_manader@1", journeys)) == (0, 11, 0)


def test_the_support_breakdown_is_only_on_the_indicators_of_who_stays_in_work() -> None:
    with_support = {d.key for d in CATALOGUE.values() if Dimension.SUPPORT in d.dimensions}
    assert with_support == {"kvar_i_arbete_3_manader", "kvar_i_arbete_6_manader"}


def test_hours_stepped_up_counts_those_whose_hours_rose_by_the_programmes_step() -> None:
    start = date(2026, 3, 2)

    def placed(pid: str, *hours: tuple[int, int]) -> Journey:
        return journey(
            pid,
            first_placement=start,
            hours=tuple((start + timedelta(days=days), h) for days, h in hours),
        )

    journeys = [
        placed("helsingborg", (0, 8), (30, 12), (90, 30)),  # 8 -> 30: stepped up
        placed("b", (0, 10), (40, 20)),  # exactly the step
        placed("c", (0, 20), (40, 25)),  # up, but by less than 10
        placed("d", (0, 20)),
        placed("e", (0, 30), (10, 15)),  # down
        journey("f", first_placement=start),  # hours never known: not counted
        placed("g", (0, 8), (400, 30)),  # stepped up after the as-of day
    ]
    as_of = date(2026, 12, 31)
    # Hand-computed: 2 of the 6 with known hours.
    assert figures(result("timmar_okade@1", journeys, as_of)) == (2, 6, 2 / 6)
    # A programme stepping up by 5 hours counts c too.
    five = KALMAR.model_copy(update={"hours_step_up": 5})
    assert figures(result("timmar_okade@1", journeys, as_of, five)) == (3, 6, 3 / 6)


def test_a_step_closer_to_self_sufficiency_compares_the_status_at_entry_and_at_exit() -> None:
    def left(pid: str, entry: LabourMarketStatus | None, status: OutcomeStatus | None) -> Journey:
        answers = {"vid_avslut": status} if status else {}
        return replace(exit_with(pid, **answers), labour_market_status=entry)

    journeys = [
        left("a", L.INACTIVE, S.JOB_SEEKING),  # 0 -> 1
        left("b", L.LONG_TERM_UNEMPLOYED, S.PRAKTIK),  # 1 -> 2
        left("c", L.UNEMPLOYED, S.UNSUBSIDISED_WORK),  # 1 -> 4
        left("d", L.UNEMPLOYED, S.JOB_SEEKING),  # no step
        left("e", L.EMPLOYED, S.STUDIES),  # a step back
        left("f", L.INACTIVE, S.SICK_OR_UNAVAILABLE),  # not on the ladder: no step
        left("g", L.UNEMPLOYED, None),  # no answer: no step
        left("h", None, S.UNSUBSIDISED_WORK),  # entry unknown: not counted
    ]
    assert [distance_travelled(j) for j in journeys] == [1, 1, 3, 0, -1, None, None, None]
    # Hand-computed: 3 of the 7 whose entry status is known.
    assert figures(result("ett_steg_narmare@1", journeys)) == (3, 7, 3 / 7)
