"""Exits at any point of the journey, against the real broker and database: intake closes the
enrolment and says so, placement frees what the person held, outcomes closes the journey (and an
erroneous registration leaves every figure)."""

from __future__ import annotations

from datetime import date
from typing import Any

from scripts.harness import wait_settled
from services.intake.personnummer import format_with_check
from services.outcomes.indicators import lookup
from services.outcomes.reports import programme_overviews
from shared.contracts import topics
from shared.contracts.intake import ParticipationExited
from shared.contracts.municipal import (
    AgreementKind,
    ParticipationExitRecorded,
    ResidenceChangeRecorded,
)
from shared.contracts.partner import PlacementChangeReported, PlacementEndReported
from shared.contracts.vocabulary import (
    ActivityType,
    EducationLevel,
    EndReason,
    ExitReason,
    LabourMarketStatus,
    OutcomeStatus,
    PlacementAction,
)
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.integration.test_placement_service import (
    CHANGED,
    ENDED,
    OFFERED,
    PARTNER,
    PARTNER_VIEW,
    PROGRAMME,
    _offers_by_participant,
    _setup,
    _step,
    enrolled,
)
from tests.support import event, events_on, outcomes_store, publish, running
from tests.unit.factories import (
    agreement,
    outcome_reported,
    participant_enrolled,
    placement_ended,
    placement_started,
    programme,
    referral,
)

PNR = format_with_check(date(1979, 11, 3), 518)
EXITED = "insats.participation.exited.v1"
HANDED_OVER = "insats.participant.handed-over.v1"


def _exit_request(
    request_id: str,
    reason: ExitReason,
    on: date,
    *,
    programme_id: str = "halmstad-150",
    municipality: str = "1380",
) -> ParticipationExitRecorded:
    return ParticipationExitRecorded(
        request_id=request_id,
        personnummer=PNR,
        municipality=municipality,
        programme_id=programme_id,
        reason=reason,
        exited_on=on,
        recorded_by="Viva, handläggare",
    )


async def _answers(settings: Settings, kommunkod: str = "1380") -> dict[str, str]:
    """The refusal codes a municipality was answered, by the id of the input refused."""
    return {
        answer["data"]["input_id"]: answer["data"]["reason"]
        for answer in await events_on(
            settings, topics.municipality_events_topic(kommunkod), "insats.input.rejected.v1"
        )
    }


async def test_an_exit_while_waiting_closes_the_enrolment_and_never_names_a_sickness(
    env: dict[str, str], settings: Settings
) -> None:
    sick = event(_exit_request("x-1", ExitReason.LONG_TERM_SICK, date(2026, 4, 1)))
    again = event(_exit_request("x-2", ExitReason.WITHDRAWN, date(2026, 4, 2)))
    too_early = event(_exit_request("x-3", ExitReason.WITHDRAWN, date(2026, 3, 1)))
    other_programme = event(
        _exit_request("x-4", ExitReason.WITHDRAWN, date(2026, 4, 1), programme_id="kalmar")
    )
    from_elsewhere = event(
        _exit_request("x-5", ExitReason.WITHDRAWN, date(2026, 4, 1), municipality="0880"),
        "0880",
    )
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        await publish(settings, event(referral(personnummer=PNR)))
        await wait_settled(settings, services=["intake"])
        # Dated before the referral (2 March): refused, and the enrolment stays open.
        await publish(settings, too_early)
        await wait_settled(settings, services=["intake"])
        for request in (sick, again, other_programme, from_elsewhere):
            await publish(settings, request)
            await wait_settled(settings, services=["intake"])
    [exited] = await events_on(settings, topics.INTAKE_EVENTS, EXITED)
    [enrolment] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    assert exited["data"] == {
        "participant_id": enrolment["data"]["participant_id"],
        "programme_id": "halmstad-150",
        "referral_id": "1380-1",
        "municipality": "1380",
        "reason": "ej_tillganglig",
        "exited_on": "2026-04-01",
        "participation": 1,
    }
    answers = await _answers(settings)
    assert answers == {
        str(too_early.id): "EXIT_DATE_OUT_OF_RANGE",
        str(again.id): "NOT_ENROLLED",
        str(other_programme.id): "NOT_ENROLLED",
    }
    # Another municipality gets the answer an unknown person gets.
    assert set((await _answers(settings, "0880")).values()) == {"UNKNOWN_PARTICIPANT"}
    # The resident's municipality sees the exit, without the health fact; intake alone keeps it.
    views = [
        e["data"]
        for e in await events_on(settings, topics.municipality_events_topic("1380"))
        if e["data"].get("source_type") == EXITED
    ]
    assert [v["facts"]["reason"] for v in views] == ["ej_tillganglig"]
    client = mongo_client(settings)
    try:
        db = client[settings.database_name("intake")]
        [participant] = await db["participants"].find({}).to_list()
    finally:
        await client.close()
    [stored] = participant["enrolments"]
    assert (stored["exited_on"], stored["exit_reason"]) == ("2026-04-01", "langvarigt_sjuk")
    for topic in (topics.INTAKE_EVENTS, topics.PLACEMENT_EVENTS):
        assert all("langvarigt" not in str(e) for e in await events_on(settings, topic))


def _exited(pid: str, reason: ExitReason, on: date) -> ParticipationExited:
    return ParticipationExited(
        participant_id=pid,
        programme_id=PROGRAMME,
        referral_id=f"r-{pid}",
        municipality="1384",
        reason=reason,
        exited_on=on,
    )


async def test_a_person_who_leaves_while_waiting_is_never_offered_a_place(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=1)
        await _step(settings, enrolled("p-placed", referred=date(2026, 1, 2)))
        await _step(settings, enrolled("p-leaves", referred=date(2026, 1, 3)))
        await _step(settings, enrolled("p-next", referred=date(2026, 1, 4)))
        await _step(settings, _exited("p-leaves", ExitReason.FOUND_WORK, date(2026, 2, 1)))
        [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
        await _step(
            settings,
            PlacementChangeReported(
                placement_id=offer["data"]["placement_id"],
                participant_id="p-placed",
                action=PlacementAction.DECLINE,
                on=date(2026, 2, 10),
            ),
        )
    offers = await _offers_by_participant(settings)
    assert set(offers) == {"p-placed", "p-next"}  # the place skipped the one who had left
    client = mongo_client(settings)
    try:
        waiting = await client[settings.database_name("placement")]["waiting"].find({}).to_list()
    finally:
        await client.close()
    assert {doc["participant_id"] for doc in waiting} == {"p-placed"}  # waits for another place


async def test_an_exit_withdraws_an_offer_and_ends_a_placement_and_their_places_go_on(
    env: dict[str, str], settings: Settings
) -> None:
    async with running("placement", env):
        await _setup(settings, capacity=2)
        await _step(settings, enrolled("p-offered", referred=date(2026, 1, 2)))
        await _step(settings, enrolled("p-working", referred=date(2026, 1, 3)))
        await _step(settings, enrolled("p-next", referred=date(2026, 1, 4)))
        await _step(settings, enrolled("p-last", referred=date(2026, 1, 5)))
        offers = await _offers_by_participant(settings)
        working = offers["p-working"]
        for action, on in ((PlacementAction.ACCEPT, 8), (PlacementAction.START, 12)):
            await _step(
                settings,
                PlacementChangeReported(
                    placement_id=working["placement_id"],
                    participant_id="p-working",
                    action=action,
                    on=date(2026, 1, on),
                ),
            )
        await _step(settings, _exited("p-offered", ExitReason.WITHDRAWN, date(2026, 2, 2)))
        await _step(settings, _exited("p-working", ExitReason.MOVED_AWAY, date(2026, 3, 2)))
    changes = {
        e["data"]["participant_id"]: (e["data"]["change"], e["data"]["status"])
        for e in await events_on(settings, topics.PLACEMENT_EVENTS, CHANGED)
    }
    assert changes["p-offered"] == ("withdrawn", "avbojd")
    [ended] = await events_on(settings, topics.PLACEMENT_EVENTS, ENDED)
    assert ended["data"]["participant_id"] == "p-working"
    assert (ended["data"]["reason"], ended["data"]["end_date"]) == ("flyttat", "2026-03-02")
    assert ended["data"]["exits_programme"] is True
    offers = await _offers_by_participant(settings)
    assert set(offers) == {"p-offered", "p-working", "p-next", "p-last"}
    assert offers["p-next"]["offered_on"] == "2026-02-02"  # the withdrawn offer's place
    assert offers["p-last"]["offered_on"] == "2026-03-02"  # the ended placement's place
    # The partner's roster says both places were given up.
    roster = [
        e["data"]
        for e in await events_on(settings, topics.partner_placements_topic(PARTNER), PARTNER_VIEW)
    ]
    last: dict[str, Any] = {}
    for view in roster:
        last[view["placement_id"]] = view
    assert last[offers["p-offered"]["placement_id"]]["status"] == "avbojd"
    assert last[working["placement_id"]]["status"] == "avslutad"
    assert last[working["placement_id"]]["end_date"] == "2026-03-02"


async def test_outcomes_closes_the_journey_and_an_erroneous_registration_leaves_every_figure(
    env: dict[str, str], settings: Settings
) -> None:
    def left(pid: str, reason: ExitReason) -> ParticipationExited:
        return ParticipationExited(
            participant_id=pid,
            programme_id="halmstad-150",
            referral_id=f"r-{pid}",
            municipality="1380",
            reason=reason,
            exited_on=date(2026, 5, 4),
        )

    people = ["p-waited", "p-died", "p-wrong", "p-placed"]
    async with running("outcomes", env):
        await publish(
            settings,
            event(programme()),
            *(event(participant_enrolled(pid)) for pid in people),
            event(placement_started("p-placed", start_date=date(2026, 3, 16))),
            # The exit arrives before the end of the placement it caused: the order must not
            # matter.
            event(left("p-placed", ExitReason.DECEASED)),
            event(left("p-waited", ExitReason.NO_CONTACT)),
            event(left("p-died", ExitReason.DECEASED)),
            event(left("p-wrong", ExitReason.ERRONEOUS_REGISTRATION)),
        )
        await wait_settled(settings, services=["outcomes"])
        await publish(
            settings,
            event(
                placement_ended(
                    "p-placed",
                    start_date=date(2026, 3, 16),
                    end_date=date(2026, 5, 4),
                    exits_programme=True,
                )
            ),
        )
        await wait_settled(settings, services=["outcomes"])
    async with outcomes_store(settings) as store:
        journeys = {j.participant_id: j for j in await store.journeys_of("halmstad-150")}
        follow_ups = await store.follow_ups_of("halmstad-150")
    assert set(journeys) == {"p-waited", "p-died", "p-placed"}  # no trace of p-wrong in figures
    assert journeys["p-waited"].exited and journeys["p-waited"].exit_date == date(2026, 5, 4)
    assert journeys["p-waited"].first_placement is None
    assert journeys["p-waited"].exit_reason is ExitReason.NO_CONTACT
    assert journeys["p-placed"].exit_reason is ExitReason.DECEASED
    # Only the one who left without contact is followed up; no one follows up the dead.
    assert {f.participant_id for f in follow_ups} == {"p-waited"}


async def test_a_person_who_left_returns_as_a_new_journey_of_the_same_participant(
    env: dict[str, str], settings: Settings
) -> None:
    """Referred, left while waiting, referred again and placed: two journeys in outcomes, one
    person against the plan, and each enrolment's events told apart by its participation."""
    first, second, third = (
        referral(
            personnummer=PNR,
            referral_id=f"1380-{n}",
            referral_date=date(2026, 3, n),
            labour_market_status=LabourMarketStatus.LONG_TERM_UNEMPLOYED,
            education_level=EducationLevel.ISCED_0_2,
        )
        for n in (2, 16, 17)
    )
    async with running("intake", env), running("placement", env), running("outcomes", env):
        await publish(settings, event(programme(capacity=0)))
        await wait_settled(settings)
        await publish(settings, event(first))
        await wait_settled(settings)
        await publish(settings, event(_exit_request("x-1", ExitReason.WITHDRAWN, date(2026, 3, 9))))
        await wait_settled(settings)
        await publish(settings, event(second))
        await wait_settled(settings)
        # Still enrolled (the second time): a third referral is refused.
        await publish(settings, event(third))
        await wait_settled(settings)
    enrolments = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    assert [(e["data"]["referral_id"], e["data"]["participation"]) for e in enrolments] == [
        ("1380-2", 1),
        ("1380-16", 2),
    ]
    assert len({e["data"]["participant_id"] for e in enrolments}) == 1
    [refused] = await events_on(settings, topics.INTAKE_EVENTS, "insats.referral.rejected.v1")
    assert (refused["data"]["referral_id"], refused["data"]["reason"]) == (
        "1380-17",
        "ALREADY_ENROLLED",
    )
    async with outcomes_store(settings) as store:
        journeys = sorted(await store.journeys_of("halmstad-150"), key=lambda j: j.participation)
    assert [(j.participation, j.exited, j.referral_date) for j in journeys] == [
        (1, True, date(2026, 3, 2)),
        (2, False, date(2026, 3, 16)),
    ]
    # The entry facts ESF+ counts travel from the referral to the journey.
    assert {(j.labour_market_status, j.education_level) for j in journeys} == {
        (LabourMarketStatus.LONG_TERM_UNEMPLOYED, EducationLevel.ISCED_0_2)
    }
    # The person is in placement's queue once, for the open enrolment.
    client = mongo_client(settings)
    try:
        waiting = await client[settings.database_name("placement")]["waiting"].find({}).to_list()
    finally:
        await client.close()
    assert [doc["participation"] for doc in waiting] == [2]


async def test_a_move_within_the_programme_follows_the_person_and_one_outside_it_ends_theirs(
    env: dict[str, str], settings: Settings
) -> None:
    """Referred by Kalmar to the county's programme (Kalmar and Nybro) and to Kalmar's own; the
    person moves to Nybro: the county enrolment follows, Nybro's stream carries them from then
    (their offer included), and the enrolment Nybro is not part of ends as a move away."""
    county = programme(
        programme_id="kalmar-lan",
        municipalities=["0880", "0881"],
        capacity=0,
        activities=[ActivityType.ARBETSTRANING],
    )
    local = programme(programme_id="kalmar-stad", municipalities=["0880"], capacity=0)
    move = ResidenceChangeRecorded(
        request_id="m-1",
        personnummer=PNR,
        municipality="0880",
        to_municipality="0881",
        moved_on=date(2026, 5, 4),
        recorded_by="Treserva, handläggare",
    )
    async with running("intake", env), running("placement", env), running("outcomes", env):
        await publish(
            settings,
            event(county, "0880"),
            event(local, "0880"),
            event(
                agreement(programme_id="kalmar-lan", places=1, kind=AgreementKind.SOCIAL_CLAUSE),
                "0880",
            ),
        )
        await wait_settled(settings)
        for referral_id, programme_id in (("0880-1", "kalmar-lan"), ("0880-2", "kalmar-stad")):
            await publish(
                settings,
                event(
                    referral(
                        personnummer=PNR,
                        referral_id=referral_id,
                        municipality="0880",
                        programme_id=programme_id,
                    ),
                    "0880",
                ),
            )
            await wait_settled(settings)
        await publish(settings, event(move, "0880"))
        await wait_settled(settings)
        # A place opens after the move: it is offered as Nybro's resident.
        await publish(settings, event(county.model_copy(update={"capacity": 1}), "0880"))
        await wait_settled(settings)
    [moved] = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.moved.v1")
    assert moved["municipality"] == "0881"
    assert (moved["data"]["programme_id"], moved["data"]["moved_on"]) == (
        "kalmar-lan",
        "2026-05-04",
    )
    [exited] = await events_on(settings, topics.INTAKE_EVENTS, EXITED)
    assert (exited["data"]["programme_id"], exited["data"]["reason"]) == ("kalmar-stad", "flyttat")
    assert exited["data"]["exited_on"] == "2026-05-03"
    [offer] = await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
    assert offer["data"]["municipality"] == "0881"

    async def seen_by(kommunkod: str) -> list[str]:
        return [
            e["data"]["source_type"]
            for e in await events_on(settings, topics.municipality_events_topic(kommunkod))
            if e["type"] == "insats.resident-event.v1"
        ]

    nybro, kalmar = await seen_by("0881"), await seen_by("0880")
    assert nybro == ["insats.participant.moved.v1", HANDED_OVER, OFFERED]
    assert "insats.participant.moved.v1" in kalmar and EXITED in kalmar
    assert OFFERED not in kalmar
    async with outcomes_store(settings) as store:
        [journey] = await store.journeys_of("kalmar-lan")
        [left] = await store.journeys_of("kalmar-stad")
    assert journey.municipality == "0881"
    assert journey.moves == ((date(2026, 5, 4), "0880", "0881"),)
    assert (left.exited, left.exit_reason) == (True, ExitReason.MOVED_AWAY)


async def test_a_move_out_of_the_programmes_area_hands_the_person_over_to_be_referred_again(
    env: dict[str, str], settings: Settings
) -> None:
    """Kalmar's own programme does not cover Nybro. The person moves there: the enrolment ends,
    Nybro is handed the person (with the programmes that take its residents), and Nybro's
    referral under the same personnummer enrols the same participant in its programme, as
    Nybro's resident, while Kalmar's figures keep the journey that ended."""
    kalmar = programme(programme_id="kalmar-stad", municipalities=["0880"], capacity=0)
    nybro = programme(programme_id="nybro-steg", municipalities=["0881"], capacity=0)
    ended = programme(
        programme_id="nybro-2025",
        municipalities=["0881"],
        period_start=date(2025, 1, 1),
        period_end=date(2025, 12, 31),
    )
    move = ResidenceChangeRecorded(
        request_id="m-2",
        personnummer=PNR,
        municipality="0880",
        to_municipality="0881",
        moved_on=date(2026, 5, 4),
        recorded_by="Treserva, handläggare",
    )
    again = referral(
        personnummer=PNR,
        referral_id="0881-1",
        municipality="0881",
        programme_id="nybro-steg",
        referral_date=date(2026, 5, 11),
    )
    async with running("intake", env), running("placement", env), running("outcomes", env):
        await publish(settings, event(kalmar, "0880"), event(nybro, "0881"), event(ended, "0881"))
        await wait_settled(settings)
        first = referral(
            personnummer=PNR, referral_id="0880-1", municipality="0880", programme_id="kalmar-stad"
        )
        await publish(settings, event(first, "0880"))
        await wait_settled(settings)
        await publish(settings, event(move, "0880"))
        await wait_settled(settings)
        await publish(settings, event(again, "0881"))
        await wait_settled(settings)
    [exited] = await events_on(settings, topics.INTAKE_EVENTS, EXITED)
    assert (exited["data"]["reason"], exited["data"]["exited_on"]) == ("flyttat", "2026-05-03")
    [handover] = await events_on(settings, topics.INTAKE_EVENTS, HANDED_OVER)
    assert handover["municipality"] == "0881"
    assert {
        k: handover["data"][k] for k in ("programme_id", "from_municipality", "programmes")
    } == {
        "programme_id": "kalmar-stad",
        "from_municipality": "0880",
        "programmes": ["nybro-steg"],  # not the one whose period is over
    }
    [view] = [
        e
        for e in await events_on(settings, topics.municipality_events_topic("0881"))
        if e["data"].get("source_type") == HANDED_OVER
    ]
    assert view["data"]["facts"]["programmes"] == ["nybro-steg"]
    enrolments = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    assert [(e["data"]["programme_id"], e["municipality"]) for e in enrolments] == [
        ("kalmar-stad", "0880"),
        ("nybro-steg", "0881"),
    ]
    assert {e["data"]["participant_id"] for e in enrolments} == {handover["data"]["participant_id"]}
    async with outcomes_store(settings) as store:
        [left] = await store.journeys_of("kalmar-stad")
        [taken_on] = await store.journeys_of("nybro-steg")
    assert (left.exit_reason, left.municipality) == (ExitReason.MOVED_AWAY, "0880")
    assert (taken_on.exited, taken_on.municipality) == (False, "0881")
    assert taken_on.participant_id == left.participant_id


async def test_the_figures_from_raw_events_are_those_a_funder_computes_by_hand(
    env: dict[str, str], settings: Settings
) -> None:
    """Six residents, two places, the three services: A works after a placement; B dies during
    one; D withdraws, E cannot be reached and F finds work, all three while waiting; C is offered
    the place A leaves. By hand, sysselsättning at exit is 2 of 5 exits (A, F) over every exit,
    and 2 of 4 without the one who died; three of the five left without a placement."""
    people = {
        name: format_with_check(date(1980 + n, 2, 3), 400 + n) for n, name in enumerate("ABCDEF")
    }
    definition = programme(
        capacity=2,
        activities=[ActivityType.ARBETSTRANING],
        goals={"avslutade_utan_placering": 2, "sysselsattning_vid_avslut@2": 0.5},
    )

    async def step(*data: Any) -> None:
        await publish(settings, *(event(d) for d in data))
        await wait_settled(settings)

    async with running("intake", env), running("placement", env), running("outcomes", env):
        await step(definition, agreement(places=2, kind=AgreementKind.SOCIAL_CLAUSE))
        for n, name in enumerate("ABCDEF"):
            await step(
                referral(
                    referral_id=f"1380-{name}",
                    personnummer=people[name],
                    referral_date=date(2026, 3, 2 + n),
                )
            )
        enrolled = {
            e["data"]["referral_id"][-1]: e["data"]["participant_id"]
            for e in await events_on(
                settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1"
            )
        }
        offers = {
            o["data"]["participant_id"]: o["data"]
            for o in await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
        }
        assert set(offers) == {enrolled["A"], enrolled["B"]}
        for name, start in (("A", date(2026, 3, 9)), ("B", date(2026, 3, 10))):
            offer = offers[enrolled[name]]
            for action in (PlacementAction.ACCEPT, PlacementAction.START):
                await step(
                    PlacementChangeReported(
                        placement_id=offer["placement_id"],
                        participant_id=enrolled[name],
                        action=action,
                        on=start,
                    )
                )
        for name, reason, on in (
            ("D", ExitReason.WITHDRAWN, date(2026, 4, 1)),
            ("E", ExitReason.NO_CONTACT, date(2026, 4, 15)),
            ("F", ExitReason.FOUND_WORK, date(2026, 4, 20)),
        ):
            await step(
                _exit_request(f"x-{name}", reason, on).model_copy(
                    update={"personnummer": people[name]}
                )
            )
        await step(
            PlacementEndReported(
                placement_id=offers[enrolled["A"]]["placement_id"],
                participant_id=enrolled["A"],
                reason=EndReason.MOVED_TO_WORK,
                end_date=date(2026, 5, 29),
            ),
            _exit_request("x-B", ExitReason.DECEASED, date(2026, 6, 1)).model_copy(
                update={"personnummer": people["B"]}
            ),
        )
        for name, on in (("A", date(2026, 5, 29)), ("F", date(2026, 4, 20))):
            await step(
                outcome_reported(
                    enrolled[name],
                    report_id=f"exit-{name}",
                    status=OutcomeStatus.UNSUBSIDISED_WORK,
                    observed_on=on,
                )
            )
    offered_later = {
        o["data"]["participant_id"]
        for o in await events_on(settings, topics.PLACEMENT_EVENTS, OFFERED)
    } - set(offers)
    assert offered_later == {enrolled["C"]}  # the places of A and B, and only C still waits
    async with outcomes_store(settings) as store:
        [view] = await programme_overviews(
            store,
            date(2027, 1, 1),
            definitions=[
                lookup(name)
                for name in (
                    "sysselsattning_vid_avslut@1",
                    "sysselsattning_vid_avslut@2",
                    "deltagare_avslutat@1",
                    "avslutade_utan_placering@1",
                    "deltagare_paborjat@1",
                )
            ],
        )
    figures = {
        r.indicator.name: (r.total.value.numerator, r.total.value.denominator)
        for r in view.indicators
    }
    assert figures == {
        "sysselsattning_vid_avslut@1": (2, 5),
        "sysselsattning_vid_avslut@2": (2, 4),
        "deltagare_avslutat@1": (5, None),
        "avslutade_utan_placering@1": (3, None),
        "deltagare_paborjat@1": (2, None),
    }
    # The programme's own goals, as outcomes stored its definition. Four or three people are too
    # few for a verdict; five are enough, and 40 % misses the 60 % of goal_sysselsattning.
    goals = {r.indicator.name: (r.goal, r.goal_met) for r in view.indicators}
    assert goals["sysselsattning_vid_avslut@2"] == (0.5, None)
    assert goals["avslutade_utan_placering@1"] == (2, None)
    assert goals["sysselsattning_vid_avslut@1"] == (0.6, False)
