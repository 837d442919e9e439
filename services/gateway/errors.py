"""A refusal raised anywhere in a request, answered as a Problem by the app's handler."""

from __future__ import annotations

from services.gateway.problems import FieldError, GatewayRefusal


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        reason: GatewayRefusal,
        *,
        errors: list[FieldError] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(reason.value)
        self.status = status
        self.reason = reason
        self.errors = errors or []
        self.retry_after = retry_after
