"""The gateway's FastAPI application: the routes of the contract, a status resource per
request, health probes, and one answer shape (Problem) for everything it refuses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.auth import Caller, TokenVerifier
from services.gateway.body_limit import BodyLimit
from services.gateway.csv_endpoint import CSV_PATH, CSV_TYPES
from services.gateway.csv_endpoint import router as csv_router
from services.gateway.endpoints import Accepted, make_endpoint
from services.gateway.errors import GatewayError
from services.gateway.outbound import Outbound, outbound_ready
from services.gateway.outbound_routes import router as outbound_router
from services.gateway.portal import pages as portal_pages
from services.gateway.portal.identity_reads import IdentityReader
from services.gateway.portal.login import PortalLogin
from services.gateway.portal.pages import refusal_page
from services.gateway.portal.runtime import Portal
from services.gateway.portal.sessions import SessionStore
from services.gateway.portal.view_store import PortalViews
from services.gateway.problems import FieldError, GatewayRefusal, Problem
from services.gateway.publisher import EventPublisher
from services.gateway.requests_store import RequestStore
from services.gateway.routes import ROUTE_OF_TYPE, ROUTES
from services.gateway.runtime import Gateway, authenticated, gateway
from services.gateway.settings import GatewaySettings
from services.gateway.status import StatusReader
from shared.contracts.tenants import CHANNELS
from shared.observability import get_logger
from shared.persistence import DURABLE, mongo_client
from shared.settings import Settings

API_VERSION = "1.0.0"

_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in (
        (400, "No or a malformed Idempotency-Key, or a body that is not JSON."),
        (401, "No valid bearer token."),
        (403, "Your organisation does not publish this."),
        (409, "The Idempotency-Key was used for another request."),
        (413, "The body is too large."),
        (415, "The body is not application/json."),
        (422, "The body does not follow the contract."),
        (503, "Try again later with the same Idempotency-Key."),
    )
}


class ServiceEndOut(BaseModel):
    service: str
    end: str = Field(description="applied, rejected or dead_lettered")
    reason: str | None


class RequestStatusOut(BaseModel):
    request_id: uuid.UUID
    type: str
    received_at: datetime
    published: bool = Field(description="Whether the broker acknowledged the event.")
    status: str = Field(
        description="received (not yet handled by every service that reads it), applied, "
        "rejected (see reason) or dead_lettered (not applied: the input could not be used, see "
        "reason; it is kept on the service's dead-letter topic, where an operator can replay "
        "it)."
    )
    reason: str | None = Field(description="The reason code of a rejection or a dead letter.")
    rule: str | None = Field(default=None, description="For a rejected referral: the rule.")
    services: list[ServiceEndOut]


class Me(BaseModel):
    tenant: str
    subject: str
    client_id: str | None
    role: str | None
    publishes: list[str] = Field(description="The paths your organisation may POST to.")


def create_app(
    settings: Settings,
    gateway_settings: GatewaySettings,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    log = get_logger("insats.gateway")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = mongo_client(settings)
        db = client.get_database(settings.database_name("gateway"), write_concern=DURABLE)
        requests = RequestStore(db["requests"])
        await requests.ensure_indexes(
            timedelta(days=gateway_settings.gateway_request_retention_days)
        )
        # The portal's views are kept only where the portal is on.
        views = PortalViews(db) if gateway_settings.portal_client_secret is not None else None
        app.state.outbound = await Outbound.start(settings, gateway_settings, client, db, views)
        publisher = EventPublisher(settings, gateway_settings.gateway_publish_timeout_seconds)
        await publisher.start()
        token_verifier = verifier or TokenVerifier(
            gateway_settings.oidc_issuer,
            gateway_settings.oidc_audience,
            jwks_url=gateway_settings.oidc_jwks_url,
            tenant_claim=gateway_settings.oidc_tenant_claim,
            leeway=gateway_settings.oidc_leeway_seconds,
        )
        app.state.gateway = Gateway(
            settings=settings,
            gateway_settings=gateway_settings,
            verifier=token_verifier,
            publisher=publisher,
            client=client,
            requests=requests,
            statuses=StatusReader(client, settings),
            log=log,
        )
        portal = await _portal(settings, gateway_settings, db, views)
        app.state.gateway.portal = portal
        try:
            yield
        finally:
            if portal is not None:
                await portal.close()
            await publisher.stop()
            await token_verifier.close()
            await app.state.outbound.stop()
            await client.close()

    app = FastAPI(
        title="Insats gateway",
        version=API_VERSION,
        summary="Refer residents, define programmes and partners, and report on placements over "
        "HTTP: each accepted request becomes the contract's event on your organisation's own "
        "topic.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=gateway_settings.gateway_max_body_bytes,
        files={CSV_PATH: (CSV_TYPES, gateway_settings.gateway_max_csv_bytes)},
    )
    _install_handlers(app)
    portal_pages.install(app)
    app.include_router(csv_router)
    app.include_router(outbound_router)

    for route in ROUTES:
        kinds = sorted(kind.value for kind in CHANNELS if route.allowed_for(kind))
        app.add_api_route(
            f"/v1{route.path}",
            make_endpoint(route),
            methods=["POST"],
            status_code=202,
            response_model=Accepted,
            responses={
                200: {"model": Accepted, "description": "The same request again."},
                **_REFUSALS,
            },
            summary=route.summary,
            description=f"Publishes `{route.model.TYPE}` on your own `{route.channel.value}` "
            f"topic. Sent by: {', '.join(kinds)}.",
            operation_id=route.operation_id,
            tags=[route.channel.value],
        )

    @app.get(
        "/v1/requests/{request_id}",
        response_model=RequestStatusOut,
        responses={401: _REFUSALS[401], 404: {"model": Problem, "description": "Not yours."}},
        tags=["requests"],
        operation_id="request_status",
    )
    async def request_status(
        request_id: Annotated[uuid.UUID, Path()],
        caller: Annotated[Caller, Depends(authenticated)],
        gw: Annotated[Gateway, Depends(gateway)],
    ) -> RequestStatusOut:
        """How one of your requests ended, as the services recorded it."""
        stored = await gw.requests.find(caller.tenant, request_id)
        if stored is None:
            raise GatewayError(404, GatewayRefusal.NOT_FOUND)
        route = ROUTE_OF_TYPE[stored.event_type]
        found = await gw.statuses.status(stored, route.channel)
        return RequestStatusOut(
            request_id=stored.event_id,
            type=stored.event_type,
            received_at=stored.received_at,
            published=stored.published,
            status=found.status,
            reason=found.reason,
            rule=found.rule,
            services=[
                ServiceEndOut(service=end.service, end=end.end, reason=end.reason)
                for end in found.ends
            ],
        )

    @app.get("/v1/me", response_model=Me, responses={401: _REFUSALS[401]}, tags=["requests"])
    async def me(caller: Annotated[Caller, Depends(authenticated)]) -> Me:
        """Who the gateway takes you for, and what you may send."""
        return Me(
            tenant=caller.tenant.key,
            subject=caller.subject,
            client_id=caller.client_id,
            role=caller.role,
            publishes=[f"/v1{r.path}" for r in ROUTES if r.allowed_for(caller.tenant.kind)],
        )

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready(
        gw: Annotated[Gateway, Depends(gateway)], feed: Annotated[bool, Depends(outbound_ready)]
    ) -> JSONResponse:
        checks = {
            "broker": gw.publisher.started,
            "feed": feed,
            "database": await _database_answers(gw),
            "identity_provider": await gw.verifier.ready(),
        }
        ok = all(checks.values())
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    return app


async def _portal(
    settings: Settings, gateway_settings: GatewaySettings, db: Any, views: PortalViews | None
) -> Portal | None:
    """The portal, where its client's secret is configured; caseworkers read identities where
    intake's address and the secret of identity reads are too."""
    secret = gateway_settings.portal_client_secret
    if secret is None or views is None:
        return None
    sessions = SessionStore(db)
    await sessions.ensure_indexes()
    identities = None
    if gateway_settings.portal_intake_url and settings.identity_read_secret is not None:
        identities = IdentityReader(
            gateway_settings.portal_intake_url, settings.identity_read_secret.get_secret_value()
        )
    return Portal(
        sessions=sessions,
        login=PortalLogin(
            gateway_settings.oidc_issuer,
            gateway_settings.portal_client_id,
            secret.get_secret_value(),
        ),
        stream=views.stream,
        identities=identities,
    )


async def _database_answers(gw: Gateway) -> bool:
    try:
        await gw.client.admin.command("ping")
    except Exception:
        return False
    return True


def _problem(error: GatewayError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = Problem.of(error.reason, error.errors).model_dump(mode="json")
    return JSONResponse(body, status_code=error.status, headers=headers)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def refused(request: Request, error: GatewayError) -> Response:
        if request.url.path.startswith("/portal/"):
            return refusal_page(error)
        return _problem(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(p.get("loc", ("",))[0] == "header" for p in problems):
            return _problem(GatewayError(400, GatewayRefusal.IDEMPOTENCY_KEY_MISSING))
        if any(p.get("type") == "json_invalid" for p in problems):
            return _problem(GatewayError(400, GatewayRefusal.INVALID_JSON))
        if any(p.get("loc", ("",))[0] == "path" for p in problems):
            return _problem(GatewayError(404, GatewayRefusal.NOT_FOUND))
        # Where and what, never the value: a body may hold a personnummer.
        fields = [
            FieldError(
                location=".".join(str(part) for part in p.get("loc", ()))[:500],
                message=str(p.get("msg", "invalid"))[:500],
            )
            for p in problems[:20]
        ]
        return _problem(GatewayError(422, GatewayRefusal.SCHEMA_VIOLATION, errors=fields))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        reason = {
            404: GatewayRefusal.NOT_FOUND,
            405: GatewayRefusal.METHOD_NOT_ALLOWED,
            413: GatewayRefusal.PAYLOAD_TOO_LARGE,
            415: GatewayRefusal.UNSUPPORTED_MEDIA_TYPE,
        }.get(error.status_code, GatewayRefusal.SCHEMA_VIOLATION)
        return _problem(GatewayError(error.status_code, reason))
