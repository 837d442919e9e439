"""The portal's pages and forms. Every page reads the session's tenant (from the token the
portal exchanged at login) and shows only that organisation's own stream; every form goes
through the gateway's one submission path, so the portal can do nothing the API could not."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.gateway.auth import Caller, Unauthenticated
from services.gateway.errors import GatewayError
from services.gateway.portal import forms
from services.gateway.portal.identity_reads import IdentityUnavailable
from services.gateway.portal.login import LoginFailed
from services.gateway.portal.sessions import PortalSession
from services.gateway.portal.views import (
    LABELS,
    Resident,
    caseworker_view,
    listing,
    page_number,
    partner_view,
    word,
)
from services.gateway.routes import ROUTE_OF_TYPE
from services.gateway.runtime import Gateway, gateway
from services.gateway.submission import submit
from shared.contracts.envelope import EventData
from shared.contracts.tenants import TenantKind
from shared.contracts.vocabulary import (
    AbsenceReason,
    CheckInStatus,
    EndReason,
    OutcomeStatus,
)

COOKIE = "insats_portal"
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_HOME = {
    TenantKind.PARTNER: "/portal/placeringar",
    TenantKind.MUNICIPALITY: "/portal/deltagare",
    TenantKind.OWNER: "/portal/program",
}

_TEMPLATES.filters["ord"] = word
router = APIRouter(prefix="/portal", include_in_schema=False)


class LoginNeeded(Exception):
    """No session: the browser is sent to log in."""


class NotYours(Exception):
    """A page or form of another kind of organisation, or of something not in its stream."""


def _page(template: str, code: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(_TEMPLATES.get_template(template).render(**values), status_code=code)


async def _session(request: Request, gw: Annotated[Gateway, Depends(gateway)]) -> PortalSession:
    if gw.portal is None:
        raise NotYours
    found = await gw.portal.sessions.find(request.cookies.get(COOKIE, ""))
    if found is None:
        raise LoginNeeded
    return found


Session = Annotated[PortalSession, Depends(_session)]
GatewayDep = Annotated[Gateway, Depends(gateway)]


def _require(session: PortalSession, kind: TenantKind) -> Caller:
    if session.caller.tenant.kind is not kind:
        raise NotYours
    return session.caller


async def _form(request: Request, session: PortalSession) -> dict[str, Any]:
    """The posted fields, once the form's CSRF token is the session's own."""
    fields = dict(await request.form(max_files=0, max_fields=40))
    given = fields.get("csrf")
    if not isinstance(given, str) or not secrets.compare_digest(given, session.csrf):
        raise NotYours
    return fields


def _request_key(fields: dict[str, Any]) -> str:
    """Each rendered form has its own key: sending it twice (a double click, the back button)
    is the same request, not a second event."""
    key = fields.get("nyckel")
    if not isinstance(key, str) or not 8 <= len(key) <= 64 or not key.isascii():
        return f"portal-{uuid.uuid4()}"
    return f"portal-{key}"


def _common(session: PortalSession, **values: Any) -> dict[str, Any]:
    return {
        "who": session.caller,
        "csrf": session.csrf,
        "key": lambda: secrets.token_urlsafe(16),
        "labels": LABELS,
        **values,
    }


async def _stream(gw: Gateway, caller: Caller) -> list[dict[str, Any]]:
    assert gw.portal is not None
    return await gw.portal.stream(caller.tenant)


async def _send(gw: Gateway, caller: Caller, data: EventData, key: str) -> RedirectResponse:
    submitted = await submit(gw, caller, ROUTE_OF_TYPE[data.TYPE], data, key)
    return RedirectResponse(f"/portal/skickat/{submitted.request.event_id}", status_code=303)


# --- login ----------------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def home(request: Request, gw: GatewayDep) -> Response:
    if gw.portal is None:
        return _page("error.html", 404, message="Portalen är inte påslagen.")
    found = await gw.portal.sessions.find(request.cookies.get(COOKIE, ""))
    if found is None:
        return RedirectResponse("/portal/logga-in", status_code=303)
    return RedirectResponse(_HOME[found.caller.tenant.kind], status_code=303)


@router.get("/logga-in")
async def login(request: Request, gw: GatewayDep) -> Response:
    if gw.portal is None:
        return _page("error.html", 404, message="Portalen är inte påslagen.")
    state, pending = await gw.portal.sessions.begin_login("/portal/")
    url = await gw.portal.login.authorization_url(
        str(request.url_for("logged_in")), state, pending.verifier, pending.nonce
    )
    return RedirectResponse(url, status_code=303)


@router.get("/inloggad", name="logged_in")
async def logged_in(request: Request, gw: GatewayDep) -> Response:
    if gw.portal is None:
        return _page("error.html", 404, message="Portalen är inte påslagen.")
    code, state = request.query_params.get("code", ""), request.query_params.get("state", "")
    pending = await gw.portal.sessions.finish_login(state[:200]) if state else None
    if pending is None or not code or len(code) > 4_000:
        return _page("error.html", 400, message="Inloggningen gick inte att slutföra. Försök igen.")
    try:
        token = await gw.portal.login.exchange(
            code, str(request.url_for("logged_in")), pending.verifier
        )
        caller = await gw.verifier.verify(token)
    except (LoginFailed, Unauthenticated):
        return _page("error.html", 401, message="Inloggningen godtogs inte. Försök igen.")
    lifetime = timedelta(hours=gw.gateway_settings.portal_session_hours)
    session_id = await gw.portal.sessions.create(caller, lifetime)
    gw.log.info("portal login", tenant=caller.tenant.key, actor=caller.actor, role=caller.role)
    response = RedirectResponse(pending.return_to, status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        secure=gw.gateway_settings.portal_secure_cookies,
        samesite="lax",
        path="/portal",
    )
    return response


@router.post("/logga-ut")
async def logout(request: Request, session: Session, gw: GatewayDep) -> Response:
    await _form(request, session)
    assert gw.portal is not None
    await gw.portal.sessions.end(request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/portal/utloggad", status_code=303)
    response.delete_cookie(COOKIE, path="/portal")
    return response


@router.get("/utloggad")
async def logged_out() -> Response:
    return _page("logged_out.html")


# --- partners -------------------------------------------------------------------------------


@router.get("/placeringar")
async def placements(session: Session, gw: GatewayDep) -> Response:
    caller = _require(session, TenantKind.PARTNER)
    view = partner_view(await _stream(gw, caller))
    return _page(
        "partner.html",
        **_common(
            session,
            view=view,
            today=date.today().isoformat(),
            absence_reasons=list(AbsenceReason),
            end_reasons=list(EndReason),
            check_in_statuses=list(CheckInStatus),
        ),
    )


# What each of a placement's forms sends (`/portal/placeringar/<id>/<form>`).
_PLACEMENT_FORMS: dict[str, Callable[[dict[str, Any], str], EventData]] = {
    "svar": lambda fields, placement: forms.offer_answer(fields, placement, date.today()),
    "start": forms.start,
    "andring": forms.change,
    "narvaro": forms.attendance,
    "oro": forms.concern,
    "avslut": forms.end,
}


@router.post("/placeringar/{placement_id}/{form}")
async def report_on_placement(
    placement_id: str, form: str, request: Request, session: Session, gw: GatewayDep
) -> Response:
    """A partner's answer to an offer or report on a placement at one of its workplaces."""
    caller = _require(session, TenantKind.PARTNER)
    make = _PLACEMENT_FORMS.get(form)
    if make is None:
        raise NotYours
    fields = await _form(request, session)
    if partner_view(await _stream(gw, caller)).placement(placement_id) is None:
        raise NotYours
    try:
        data = make(fields, placement_id)
    except forms.FormInvalid as problem:
        return _page("error.html", 422, message=str(problem), back="/portal/placeringar")
    return await _send(gw, caller, data, _request_key(fields))


@router.post("/stodsamtal/{check_in_id}")
async def answer_check_in(
    check_in_id: str, request: Request, session: Session, gw: GatewayDep
) -> Response:
    caller = _require(session, TenantKind.PARTNER)
    fields = await _form(request, session)
    view = partner_view(await _stream(gw, caller))
    found = next((c for c in view.check_ins if c.check_in_id == check_in_id), None)
    if found is None:
        raise NotYours
    try:
        data = forms.check_in(fields, check_in_id, found.placement_id, date.today())
    except forms.FormInvalid as problem:
        return _page("error.html", 422, message=str(problem), back="/portal/placeringar")
    return await _send(gw, caller, data, _request_key(fields))


# --- caseworkers ----------------------------------------------------------------------------


@router.get("/deltagare")
async def residents(request: Request, session: Session, gw: GatewayDep) -> Response:
    caller = _require(session, TenantKind.MUNICIPALITY)
    view = caseworker_view(await _stream(gw, caller), date.today())
    search = request.query_params.get("sok", "")[:100]
    page = request.query_params.get("sida", "1")
    found = listing(view.residents, search, page_number(page))
    return _page(
        "caseworker.html",
        **_common(
            session,
            view=view,
            listing=found,
            statuses=list(OutcomeStatus),
            today=date.today().isoformat(),
        ),
    )


async def _resident(gw: Gateway, caller: Caller, participant_id: str) -> Resident:
    found = caseworker_view(await _stream(gw, caller), date.today()).resident(participant_id)
    if found is None:
        raise NotYours
    return found


def _resident_page(gw: Gateway, session: PortalSession, found: Resident, **values: Any) -> Response:
    assert gw.portal is not None
    page = _page(
        "resident.html",
        **_common(
            session, resident=found, reads_identity=gw.portal.identities is not None, **values
        ),
    )
    # A page that may hold an identity is kept by no cache, the browser's included.
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/deltagare/{participant_id}")
async def resident(participant_id: str, session: Session, gw: GatewayDep) -> Response:
    caller = _require(session, TenantKind.MUNICIPALITY)
    return _resident_page(gw, session, await _resident(gw, caller, participant_id))


@router.post("/deltagare/{participant_id}/identitet")
async def read_identity(
    participant_id: str, request: Request, session: Session, gw: GatewayDep
) -> Response:
    """The resident's identity, for the caseworker who gives a reason: read through intake,
    which audits it with the caseworker's name and the reason before opening anything."""
    caller = _require(session, TenantKind.MUNICIPALITY)
    fields = await _form(request, session)
    found = await _resident(gw, caller, participant_id)
    assert gw.portal is not None
    if gw.portal.identities is None:
        raise NotYours
    reason = str(fields.get("skal", "")).strip()
    if not 5 <= len(reason) <= 500:
        return _resident_page(
            gw, session, found, reason_problem="Ange skälet med minst 5 och högst 500 tecken."
        )
    try:
        shown = await gw.portal.identities.read(caller, participant_id, reason)
    except IdentityUnavailable as problem:
        gw.log.warning("identity read failed", problem=str(problem))
        return _page("error.html", 503, message="Identitetsuppgifterna går inte att visa just nu.")
    gw.log.info("identity read", participant=participant_id, actor=caller.actor)
    if shown is None:
        return _page("error.html", 404, message="Det finns inga identitetsuppgifter att visa.")
    return _resident_page(gw, session, found, identity=shown)


@router.post("/uppfoljning/{follow_up_id}")
async def answer_follow_up(
    follow_up_id: str, request: Request, session: Session, gw: GatewayDep
) -> Response:
    caller = _require(session, TenantKind.MUNICIPALITY)
    fields = await _form(request, session)
    view = caseworker_view(await _stream(gw, caller), date.today())
    found = next((f for f in view.overdue if f.follow_up_id == follow_up_id), None)
    if found is None:
        raise NotYours
    try:
        data = forms.follow_up_answer(
            fields,
            report_id=f"portal-{follow_up_id}"[:128],
            participant_id=found.participant_id,
            programme_id=found.programme_id,
            kommunkod=caller.tenant.id,
            follow_up=found.follow_up,
            participation=found.participation,
        )
    except forms.FormInvalid as problem:
        return _page("error.html", 422, message=str(problem), back="/portal/deltagare")
    return await _send(gw, caller, data, _request_key(fields))


# --- programme owners -------------------------------------------------------------------------


async def _owned(gw: Gateway, caller: Caller) -> list[dict[str, Any]]:
    """The programmes this organisation owns, as outcomes knows them (the first to define a
    programme owns it)."""
    if caller.tenant.kind is TenantKind.PARTNER:
        raise NotYours
    programmes = gw.client.get_database(gw.settings.database_name("outcomes"))["programmes"]
    found = (
        await programmes.find(
            {"owner": caller.tenant.key}, {"definition.name": 1, "definition.period_end": 1}
        )
        .sort("_id", 1)
        .to_list(500)
    )
    return [{"id": doc["_id"], "name": doc.get("definition", {}).get("name", "")} for doc in found]


@router.get("/program")
async def programmes(session: Session, gw: GatewayDep) -> Response:
    owned = await _owned(gw, session.caller)
    return _page(
        "programmes.html",
        **_common(session, programmes=owned, dashboard=gw.gateway_settings.portal_outcomes_url),
    )


async def _from_outcomes(
    gw: Gateway, caller: Caller, programme_id: str, path: str, timeout: float
) -> httpx.Response | None:
    """What the outcomes service answers at `path` about a programme the caller owns; None if
    outcomes cannot be reached. The dashboard has no login of its own and is reachable only from
    inside the deployment: the portal is its door, for the programme's owner alone."""
    base = gw.gateway_settings.portal_outcomes_url
    if caller.tenant.kind is TenantKind.PARTNER or base is None:
        raise NotYours
    programmes = gw.client.get_database(gw.settings.database_name("outcomes"))["programmes"]
    if await programmes.find_one({"_id": programme_id, "owner": caller.tenant.key}) is None:
        raise NotYours
    async with httpx.AsyncClient(timeout=timeout) as http:
        try:
            answer = await http.get(f"{base.rstrip('/')}{path}", params={"programme": programme_id})
        except httpx.HTTPError:
            return None
    return answer if answer.status_code == 200 else None


@router.get("/program/{programme_id}")
async def programme(programme_id: str, session: Session, gw: GatewayDep) -> Response:
    answer = await _from_outcomes(gw, session.caller, programme_id, "/dashboard", 15.0)
    if answer is None:
        return _page("error.html", 503, message="Resultaten går inte att visa just nu.")
    page = answer.text.replace('href="/dashboard"', 'href="/portal/program"')
    download = (
        f'<p style="margin:1rem 2rem"><a id="funder-files" '
        f'href="/portal/program/{quote(programme_id)}/filer.zip">Ladda ned rapportfilerna '
        "(CSV och Excel)</a></p>"
    )
    return HTMLResponse(page.replace("<body>", f"<body>{download}", 1))


@router.get("/program/{programme_id}/filer.zip")
async def funder_files(programme_id: str, session: Session, gw: GatewayDep) -> Response:
    """The programme's funder files from outcomes' read model, for its owner only."""
    answer = await _from_outcomes(gw, session.caller, programme_id, "/funder-files", 60.0)
    if answer is None:
        return _page("error.html", 503, message="Filerna går inte att hämta just nu.")
    gw.log.info("funder files downloaded", programme=programme_id, actor=session.caller.actor)
    return Response(
        answer.content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{quote(programme_id)}.zip"'},
    )


# --- every organisation -----------------------------------------------------------------------


@router.get("/skickat/{request_id}")
async def sent(request_id: uuid.UUID, session: Session, gw: GatewayDep) -> Response:
    stored = await gw.requests.find(session.caller.tenant, request_id)
    if stored is None:
        raise NotYours
    found = await gw.statuses.status(stored, ROUTE_OF_TYPE[stored.event_type].channel)
    return _page(
        "sent.html",
        **_common(
            session,
            status=found,
            home=_HOME[session.caller.tenant.kind],
            received_at=stored.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        ),
    )


def install(app: FastAPI) -> None:
    """The portal's pages, and what they answer when there is no session or it is not yours."""
    app.include_router(router)

    @app.exception_handler(LoginNeeded)
    async def login_needed(_: Request, __: LoginNeeded) -> Response:
        return RedirectResponse("/portal/logga-in", status_code=303)

    @app.exception_handler(NotYours)
    async def not_yours(_: Request, __: NotYours) -> Response:
        return _page("error.html", 404, message="Sidan finns inte, eller hör inte till er.")


def refusal_page(error: GatewayError) -> Response:
    """A refusal of something sent from the portal: a page, where the API answers JSON."""
    message = {
        403: "Er organisation kan inte skicka detta.",
        409: "Formuläret har redan skickats med andra uppgifter. Ladda om sidan.",
        503: "Insats kan inte ta emot uppgiften just nu. Försök igen om en stund.",
    }.get(error.status, "Uppgiften kunde inte skickas. Kontrollera formuläret.")
    return _page("error.html", error.status, message=message)
