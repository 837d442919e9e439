"""Resetting a namespace right after the broker started: its group listing is waited for."""

from __future__ import annotations

import pytest
from aiokafka.errors import GroupLoadInProgressError, IllegalStateError

from scripts.harness import consumer_groups


class _StartingBroker:
    """Answers GroupLoadInProgress a few times, as a broker loading its offsets topic does."""

    def __init__(self, busy: int, error: Exception | None = None) -> None:
        self.busy = busy
        self.error = error or GroupLoadInProgressError("loading")
        self.asked = 0

    async def list_consumer_groups(self) -> list[tuple[str, str]]:
        self.asked += 1
        if self.asked <= self.busy:
            raise self.error
        return [("demo.insats-intake", "consumer")]


async def test_a_broker_still_loading_its_groups_is_waited_for() -> None:
    broker = _StartingBroker(busy=2)
    assert await consumer_groups(broker) == ["demo.insats-intake"]
    assert broker.asked == 3


async def test_an_error_that_waiting_does_not_cure_is_raised_at_once() -> None:
    broker = _StartingBroker(busy=1, error=IllegalStateError("no"))
    with pytest.raises(IllegalStateError):
        await consumer_groups(broker)
    assert broker.asked == 1


async def test_waiting_ends_at_the_deadline() -> None:
    with pytest.raises(GroupLoadInProgressError):
        await consumer_groups(_StartingBroker(busy=100), timeout=0.6)
