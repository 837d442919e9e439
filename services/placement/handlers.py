"""Placement's use cases. Each loads the books of the programmes a batch touches, applies the
events in order, and saves books, placements and the events they caused in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.placement.domain import (
    ActivePlacement,
    ProgrammeBook,
    Refusal,
    WaitingEntry,
    end_placement,
)
from services.placement.store import PlacementStore
from shared.contracts.envelope import Envelope, new_event
from shared.contracts.intake import ParticipantEnrolled
from shared.contracts.municipal import AgreementSigned, PartnerRegistered, ProgrammeDefined
from shared.contracts.partner import PlacementEndReported
from shared.contracts.placement import PlacementEnded, PlacementStarted
from shared.messaging.consumer import HandlerContext
from shared.messaging.records import Received
from shared.observability import get_logger

SOURCE = "/insats/placement"
log = get_logger(__name__)


class _Changes:
    """What one batch did, to be saved and published together."""

    def __init__(self) -> None:
        self.started: list[tuple[PlacementStarted, WaitingEntry, Envelope[Any]]] = []
        self.ended: list[tuple[PlacementEnded, Envelope[Any]]] = []

    def allocate(self, book: ProgrammeBook, day: Any, cause: Envelope[Any]) -> None:
        queued = {entry.participant_id: entry for entry in book.waiting}
        for placement in book.allocate(day, str(cause.id)):
            self.started.append((placement, queued[placement.participant_id], cause))


class PlacementHandlers:
    def __init__(self, store: PlacementStore) -> None:
        self.store = store

    async def on_programmes(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        definitions: list[tuple[ProgrammeDefined, Envelope[Any]]] = [
            (item.event.data, item.event) for item in batch
        ]
        # A new definition may open more places than the stored one: read enough of the queue.
        depth = len(batch) + max(d.capacity for d, _ in definitions)
        books = await self.store.load_books(
            (d.programme_id for d, _ in definitions), depth, ctx.session
        )
        changes = _Changes()
        for definition, event in definitions:
            book = books[definition.programme_id]
            if book.definition is None or book.definition.priority != definition.priority:
                await self.store.reprioritise(
                    definition.programme_id, definition.priority, ctx.session
                )
            book.define(definition)
            changes.allocate(book, definition.period_start, event)
        await self._save(books, changes, ctx)

    async def on_partners(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        partners = [i.event.data for i in batch if isinstance(i.event.data, PartnerRegistered)]
        await self.store.save_partners(partners, ctx.session)
        agreements: list[tuple[AgreementSigned, Envelope[Any]]] = [
            (i.event.data, i.event) for i in batch if isinstance(i.event.data, AgreementSigned)
        ]
        if not agreements:
            return
        books = await self.store.load_books(
            (a.programme_id for a, _ in agreements), len(batch), ctx.session
        )
        changes = _Changes()
        for agreement, event in agreements:
            book = books[agreement.programme_id]
            book.sign(agreement)
            changes.allocate(book, agreement.period_start, event)
        await self._save(books, changes, ctx)

    async def on_enrolments(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        enrolments: list[tuple[ParticipantEnrolled, Envelope[Any]]] = [
            (item.event.data, item.event) for item in batch
        ]
        books = await self.store.load_books(
            (e.programme_id for e, _ in enrolments), len(batch), ctx.session
        )
        changes = _Changes()
        for enrolled, event in enrolments:
            book = books[enrolled.programme_id]
            book.enqueue(
                WaitingEntry(
                    participant_id=enrolled.participant_id,
                    programme_id=enrolled.programme_id,
                    municipality=enrolled.municipality,
                    income_support=enrolled.income_support,
                    referral_date=enrolled.referral_date,
                    enrolled_at=event.time,
                )
            )
            changes.allocate(book, enrolled.referral_date, event)
        await self._save(books, changes, ctx)

    async def on_reports(self, batch: Sequence[Received], ctx: HandlerContext) -> None:
        reports = [item for item in batch if isinstance(item.event.data, PlacementEndReported)]
        known = await self.store.load_placements(
            (item.event.data.placement_id for item in reports), ctx.session
        )
        books = await self.store.load_books(
            (placement.programme_id for placement, _ in known.values()), len(batch), ctx.session
        )
        changes = _Changes()
        for item in reports:
            report: PlacementEndReported = item.event.data
            placement, entry = known.get(report.placement_id, (None, None))
            result = end_placement(placement, report)
            if isinstance(result, Refusal):
                ctx.reject(item, "PLACEMENT_END_REFUSED", result.reason)
                continue
            assert placement is not None
            assert entry is not None
            known[report.placement_id] = (_ended(placement), entry)
            book = books[placement.programme_id]
            book.release(placement)
            changes.ended.append((result, item.event))
            if not result.exits_programme:
                book.enqueue(entry)
            changes.allocate(book, report.end_date, item.event)
        await self._save(books, changes, ctx)

    async def _save(
        self, books: dict[str, ProgrammeBook], changes: _Changes, ctx: HandlerContext
    ) -> None:
        await self.store.save_books(books.values(), ctx.session)
        await self.store.record_placements(
            [(placement, entry) for placement, entry, _ in changes.started],
            [ended for ended, _ in changes.ended],
            ctx.session,
        )
        for ended, cause in changes.ended:
            ctx.emit(new_event(ended, source=SOURCE, municipality=ended.municipality, cause=cause))
        for placement, _, cause in changes.started:
            ctx.emit(
                new_event(
                    placement,
                    source=SOURCE,
                    municipality=placement.municipality,
                    cause=cause,
                    discriminator=placement.participant_id,
                )
            )
            log.info(
                "placement started",
                participant=placement.participant_id,
                programme=placement.programme_id,
                partner=placement.partner_id,
            )


def _ended(placement: ActivePlacement) -> ActivePlacement:
    return ActivePlacement(**{**placement.__dict__, "status": "ended"})
