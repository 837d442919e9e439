"""Hypothesis-generated junk and near-valid referrals through the real intake service: it keeps
going, answers every one, enrols the valid ones and never an invalid personnummer."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.harness import Publisher, wait_settled
from services.intake.personnummer import format_with_check
from shared.contracts import topics
from shared.contracts.registry import encode_event
from shared.contracts.tenants import Channel
from shared.luhn import luhn_check_digit
from shared.settings import Settings
from tests.support import event, events_on, publish, raw_records, running, tenant_topic
from tests.unit.factories import programme, referral


def _near_valid_numbers() -> st.SearchStrategy[str]:
    valid = st.builds(
        format_with_check, st.dates(date(1950, 1, 1), date(2005, 1, 1)), st.integers(0, 999)
    )

    def one_digit_off(number: str, position: int) -> str:
        return number[:position] + str((int(number[position]) + 1) % 10) + number[position + 1 :]

    def month_13(number: str) -> str:
        # A correct check digit over an impossible date: only the date check can catch it.
        nine = number[2:4] + "13" + number[6:11]
        return number[:2] + nine + str(luhn_check_digit(nine))

    return st.one_of(
        st.builds(one_digit_off, valid, st.integers(2, 11)),
        valid.map(month_13),
        valid.map(lambda n: n[:8] + "+" + n[8:]),  # '+' with a four-digit year
        st.text(max_size=16),
    )


def _draw_inputs() -> tuple[list[str], list[bytes]]:
    """Hypothesis draws the inputs; the service is then run once over all of them."""
    numbers: list[str] = []
    junk: list[bytes] = []

    @settings(
        max_examples=80, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(
        number=_near_valid_numbers(),
        raw=st.binary(max_size=80)
        | st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=6), max_size=4).map(
            lambda d: json.dumps(d).encode()
        ),
    )
    def collect(number: str, raw: bytes) -> None:
        numbers.append(number)
        junk.append(raw)

    collect()
    return numbers, junk


async def test_the_consumer_keeps_going_and_never_enrols_an_invalid_number(
    env: dict[str, str], settings: Settings
) -> None:
    near_valid, junk = _draw_inputs()
    valid = [format_with_check(date(1970 + n, 1 + n % 12, 1 + n % 27), 500 + n) for n in range(10)]
    async with running("intake", env):
        await publish(settings, event(programme()))
        await wait_settled(settings, services=["intake"])
        async with Publisher(settings) as publisher:
            for n, number in enumerate(near_valid):
                bad = event(referral(referral_id=f"near-{n}", personnummer=number))
                await publisher.send_raw(
                    tenant_topic(Channel.REFERRALS), encode_event(bad), bad.subject.encode()
                )
            for n, raw in enumerate(junk):
                await publisher.send_raw(tenant_topic(Channel.REFERRALS), raw, f"junk-{n}".encode())
            for n, number in enumerate(valid):
                good = event(referral(referral_id=f"valid-{n}", personnummer=number))
                await publisher.send(good)
            await publisher.flush()
        await wait_settled(settings, services=["intake"])
    enrolled = await events_on(settings, topics.INTAKE_EVENTS, "insats.participant.enrolled.v1")
    rejected = await events_on(settings, topics.INTAKE_EVENTS, "insats.referral.rejected.v1")
    assert sorted(e["data"]["referral_id"] for e in enrolled) == sorted(
        f"valid-{n}" for n in range(10)
    )
    # Every other input got an answer, and every one of them a dead letter with a reason.
    assert len(rejected) == len(near_valid) + len(junk)
    letters = await raw_records(settings, topics.dead_letter_topic("intake"))
    assert len(letters) == len(near_valid) + len(junk)
    assert all(headers.get("insats-dlq-reason") for _, _, headers in letters)
