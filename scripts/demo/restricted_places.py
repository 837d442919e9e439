"""The demo's proof that places for some go only to them: Kalejdo's to women, Sökandelots's to
people with a disability. Read, as an operator may, from the topics themselves: who intake
enrolled (gender), the special categories it recorded, its eligibility decisions, and every
offer placement made."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.table import Table

from scripts.harness import read_topic
from shared.contracts import topics
from shared.contracts.vocabulary import Gender, TargetGroup
from shared.settings import Settings

_ENROLLED = "insats.participant.enrolled.v1"
_SPECIAL = "insats.special-categories.recorded.v1"
_DECIDED = "insats.eligibility.decided.v1"
_OFFERED = "insats.placement.offered.v1"


@dataclass
class RestrictedPlaces:
    """Per restricted agreement: intake's latest decisions and the offers made under it."""

    women: set[str] = field(default_factory=set)
    with_disability: set[str] = field(default_factory=set)
    eligible: dict[str, set[str]] = field(default_factory=dict)
    not_eligible: dict[str, set[str]] = field(default_factory=dict)
    offers: dict[str, list[str]] = field(default_factory=dict)

    def read(self, events: Iterable[dict[str, object]]) -> None:
        for event in events:
            data = event["data"]
            assert isinstance(data, dict)
            pid = str(data.get("participant_id"))
            if event["type"] == _ENROLLED and data["gender"] == Gender.FEMALE.value:
                self.women.add(pid)
            elif (
                event["type"] == _SPECIAL and TargetGroup.DISABILITY.value in data["target_groups"]
            ):
                self.with_disability.add(pid)
            elif event["type"] == _DECIDED:
                for decision in data["agreements"]:
                    agreement = decision["agreement_id"]
                    yes = self.eligible.setdefault(agreement, set())
                    no = self.not_eligible.setdefault(agreement, set())
                    (yes if decision["eligible"] else no).add(pid)
                    (no if decision["eligible"] else yes).discard(pid)
            elif event["type"] == _OFFERED and data["agreement_id"] in self.eligible:
                self.offers.setdefault(str(data["agreement_id"]), []).append(pid)

    def table(self) -> Table:
        table = Table(
            "agreement",
            "eligible (intake)",
            "not eligible",
            "offers",
            "to women",
            "to people with a disability",
            "to anyone not eligible",
            title="Places for some only: intake decides who is eligible; offered only to them",
        )
        for agreement in sorted(self.eligible):
            offered = self.offers.get(agreement, [])
            table.add_row(
                agreement,
                str(len(self.eligible[agreement])),
                str(len(self.not_eligible.get(agreement, ()))),
                str(len(offered)),
                str(sum(pid in self.women for pid in offered)),
                str(sum(pid in self.with_disability for pid in offered)),
                str(sum(pid not in self.eligible[agreement] for pid in offered)),
            )
        return table


async def restricted_places(settings: Settings) -> RestrictedPlaces:
    found = RestrictedPlaces()
    for topic in (topics.INTAKE_EVENTS, topics.INTAKE_SPECIAL_CATEGORIES, topics.PLACEMENT_EVENTS):
        found.read(json.loads(value) for _, value, _ in await read_topic(settings, topic))
    return found
