"""POST /v1/referrals/csv: a case system's export of referrals, each row answered."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field

from services.gateway.auth import Caller
from services.gateway.csv_referrals import COLUMNS, MAX_ROWS, UnreadableFile, read_referrals
from services.gateway.errors import GatewayError
from services.gateway.problems import FieldError, GatewayRefusal, Problem
from services.gateway.routes import ROUTE_OF_TYPE
from services.gateway.runtime import Gateway, authenticated, gateway
from services.gateway.submission import submit
from shared.contracts.municipal import ReferralReceived
from shared.contracts.tenants import TenantKind

CSV_PATH = "/v1/referrals/csv"
CSV_TYPES = frozenset({"text/csv", "application/csv"})

router = APIRouter()


class RowAnswer(BaseModel):
    row: int = Field(ge=1, description="1 is the first row after the header.")
    result: Literal["accepted", "refused"]
    request_id: uuid.UUID | None = Field(
        default=None, description="Follow it at /v1/requests/{request_id}."
    )
    reason: GatewayRefusal | None = None
    errors: list[FieldError] = Field(default_factory=list)


class CsvAnswer(BaseModel):
    accepted: int
    refused: int
    rows: list[RowAnswer]


@router.post(
    CSV_PATH,
    response_model=CsvAnswer,
    tags=["referrals"],
    operation_id="publish_referrals_csv",
    summary="Refer residents from a CSV export, one referral per row",
    description=f"Columns (header row): {', '.join(COLUMNS)}. Comma or semicolon separated, "
    f"UTF-8; lists within a cell separated by `|`; at most {MAX_ROWS} rows. Each row becomes "
    "one `insats.referral.received.v1`, answered in `rows`. Sending the same file again with "
    "the same Idempotency-Key publishes nothing twice.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "maxLength": 2_097_152}}},
        }
    },
    responses={
        400: {"model": Problem, "description": "An unreadable file or no Idempotency-Key."},
        401: {"model": Problem, "description": "No valid bearer token."},
        403: {"model": Problem, "description": "Only municipalities refer residents."},
        413: {"model": Problem, "description": "The file is too large."},
        415: {"model": Problem, "description": "Not text/csv."},
    },
)
async def referrals_csv(
    request: Request,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=100,
            pattern=r"^[!-~]{1,100}$",
            description="Unique per file; each row's own key is this key and its row number.",
        ),
    ],
    caller: Annotated[Caller, Depends(authenticated)],
    gw: Annotated[Gateway, Depends(gateway)],
) -> CsvAnswer:
    if caller.tenant.kind is not TenantKind.MUNICIPALITY:
        raise GatewayError(403, GatewayRefusal.NOT_ALLOWED)
    try:
        rows = read_referrals(await request.body(), caller.tenant.id)
    except UnreadableFile as problem:
        raise GatewayError(
            400,
            GatewayRefusal.INVALID_CSV,
            errors=[FieldError(location="file", message=str(problem))],
        ) from None
    route = ROUTE_OF_TYPE[ReferralReceived.TYPE]
    answers = []
    for row in rows:
        if row.referral is None:
            answers.append(
                RowAnswer(
                    row=row.number,
                    result="refused",
                    reason=GatewayRefusal.SCHEMA_VIOLATION,
                    errors=row.errors,
                )
            )
            continue
        try:
            submitted = await submit(
                gw, caller, route, row.referral, f"{idempotency_key}#{row.number}"
            )
        except GatewayError as error:
            if error.status >= 500:
                raise  # the broker is away: the whole file is tried again, with the same key
            answers.append(RowAnswer(row=row.number, result="refused", reason=error.reason))
            continue
        answers.append(
            RowAnswer(row=row.number, result="accepted", request_id=submitted.request.event_id)
        )
    accepted = sum(1 for answer in answers if answer.result == "accepted")
    return CsvAnswer(accepted=accepted, refused=len(answers) - accepted, rows=answers)
