"""How a request ended, read from what the services recorded in the same transaction as its
effect: their inboxes (applied, rejected with its reason, dead-lettered with its reason) and,
for a referral, intake's decision. So the status never says "applied" before it is, and says it
for as long as the services keep their inboxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from pymongo import AsyncMongoClient

from services.gateway.requests_store import StoredRequest
from shared.contracts.municipal import ReferralReceived
from shared.contracts.tenants import Channel
from shared.settings import Settings

# Which services read each channel, the one that answers the sender first (the other ones take
# what they need and pass over the rest). tests/unit/test_gateway_routes.py checks it against
# the services' own subscriptions.
READERS: Final[dict[Channel, tuple[str, ...]]] = {
    Channel.REFERRALS: ("intake",),
    Channel.PROGRAMMES: ("placement", "intake", "outcomes"),
    Channel.PARTNERS: ("placement", "intake", "outcomes"),
    Channel.OUTCOME_REPORTS: ("outcomes",),
    Channel.PLACEMENT_REPORTS: ("placement",),
}

End = Literal["applied", "rejected", "dead_lettered"]
Status = Literal["received", "applied", "rejected", "dead_lettered"]


@dataclass(frozen=True)
class ServiceEnd:
    service: str
    end: End
    reason: str | None


@dataclass(frozen=True)
class RequestStatus:
    status: Status
    reason: str | None
    rule: str | None
    ends: tuple[ServiceEnd, ...]


class StatusReader:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def status(self, request: StoredRequest, channel: Channel) -> RequestStatus:
        ids = [f"{request.tenant.key}/{request.event_id}"]
        if request.origin is not None:
            ids.append(request.origin)  # a dead letter is known by where it was on the broker
        ends = []
        for service in READERS[channel]:
            db = self.client.get_database(self.settings.database_name(service))
            found = await db["inbox"].find_one({"_id": {"$in": ids}, "end": {"$exists": True}})
            if found is not None:
                ends.append(ServiceEnd(service, found["end"], found.get("reason")))
        return await self._decided(request, channel, tuple(ends))

    async def _decided(
        self, request: StoredRequest, channel: Channel, ends: tuple[ServiceEnd, ...]
    ) -> RequestStatus:
        """Refused as soon as the answering service refused it; dead-lettered as soon as any
        reader did; applied only once every reader has it (a programme placement knows but intake
        does not yet cannot take a referral)."""
        by_service = {end.service: end for end in ends}
        answering = by_service.get(READERS[channel][0])
        if answering is not None and answering.end == "rejected":
            return RequestStatus("rejected", answering.reason, None, ends)
        dead = next((end for end in ends if end.end == "dead_lettered"), None)
        if dead is not None:
            return RequestStatus("dead_lettered", dead.reason, None, ends)
        if set(by_service) != set(READERS[channel]):
            return RequestStatus("received", None, None, ends)
        if request.event_type == ReferralReceived.TYPE:
            return await self._referral(request, ends)
        return RequestStatus("applied", None, None, ends)

    async def _referral(
        self, request: StoredRequest, ends: tuple[ServiceEnd, ...]
    ) -> RequestStatus:
        """A referral intake applied was decided: enrolled, or rejected by a rule (the
        municipality's stream carries the same answer)."""
        db = self.client.get_database(self.settings.database_name("intake"))
        decision = None
        if request.origin is not None:
            decision = await db["referrals"].find_one(
                {"_id": request.origin}, {"decision": 1, "reason": 1, "rule": 1}
            )
        if decision is not None and decision.get("decision") == "rejected":
            return RequestStatus("rejected", decision.get("reason"), decision.get("rule"), ends)
        return RequestStatus("applied", None, None, ends)
