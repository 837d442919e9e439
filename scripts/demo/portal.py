"""The demo's gateway and portal: running beside the services, with a partner's staff member and
a caseworker who can log in, checked by logging in as a browser would before their names and
passwords are printed."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
import time
from dataclasses import dataclass

import httpx

from scripts.harness import Platform, ServiceProcess
from scripts.stack.identity import IdentityProvider
from shared.contracts.tenants import Tenant

PORTAL_PORT = 8090


@dataclass(frozen=True)
class Person:
    username: str
    password: str
    tenant: Tenant
    role: str
    home: str  # the page they land on


DEMO_PEOPLE = (
    ("anna.fangelset", Tenant.partner("fangelset-hotell"), "partner-staff", "/portal/placeringar"),
    ("karin.halmstad", Tenant.municipality("1380"), "caseworker", "/portal/deltagare"),
    # The ESF project's owner, an association of municipalities: its programme's dashboard
    # and funder files.
    (
        "lena.kalmarlan",
        Tenant.owner("kommunforbundet-kalmar-lan"),
        "programme-owner",
        "/portal/program",
    ),
)


def portal_environment(provider: IdentityProvider) -> dict[str, str]:
    """What the gateway needs to serve the portal on loopback (no TLS: cookies not Secure)."""
    return {
        "INSATS_OIDC_ISSUER": provider.issuer,
        "INSATS_PORTAL_CLIENT_SECRET": provider.portal_secret(),
        "INSATS_PORTAL_SECURE_COOKIES": "false",
    }


def service_doors(platform: Platform) -> dict[str, str]:
    """Where the portal reaches the platform's services: outcomes' dashboard for programme
    owners, intake's identity reads for caseworkers."""
    return {
        "INSATS_PORTAL_OUTCOMES_URL": f"http://127.0.0.1:{platform.services['outcomes'].port}",
        "INSATS_PORTAL_INTAKE_URL": f"http://127.0.0.1:{platform.services['intake'].port}",
    }


async def start_gateway(
    env: dict[str, str], provider: IdentityProvider, platform: Platform, port: int = PORTAL_PORT
) -> ServiceProcess:
    process = ServiceProcess(
        "gateway",
        {
            **service_doors(platform),
            # The demo's webhook secrets live only as long as its namespace: a fresh key is enough.
            "INSATS_GATEWAY_SECRET_KEY": secrets.token_urlsafe(32),
            **env,
            **await asyncio.to_thread(portal_environment, provider),
        },
        platform.log_dir / "gateway.log",
        port,
        command=("gateway",),
    )
    process.start()
    deadline = time.monotonic() + 60
    while (found := await asyncio.to_thread(process.health))[0] != 200:
        if not process.alive() or time.monotonic() > deadline:
            process.terminate()
            raise RuntimeError(f"the gateway did not get ready ({found}); see {process.log_path}")
        await asyncio.sleep(0.25)
    return process


def register_people(provider: IdentityProvider) -> list[Person]:
    people = []
    for username, tenant, role, home in DEMO_PEOPLE:
        password = secrets.token_urlsafe(12)
        provider.register_person(tenant, username, password, role)
        people.append(Person(username, password, tenant, role, home))
    return people


async def log_in(base_url: str, person: Person) -> httpx.AsyncClient:
    """A browser's login to the portal: the portal sends it to the identity provider, the login
    form is filled in, and the portal's session cookie comes back. The client is logged in."""
    browser = httpx.AsyncClient(base_url=base_url, timeout=15.0)
    page = await browser.get("/portal/", follow_redirects=True)
    form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    if form is None:
        await browser.aclose()
        raise RuntimeError("the portal did not lead to the identity provider's login form")
    # Keycloak marks its cookies Secure even on loopback, where browsers send them anyway and
    # httpx does not: sent here by hand, as a browser would.
    cookies = "; ".join(
        f"{cookie.name}={cookie.value}" for cookie in browser.cookies.jar if cookie.secure
    )
    back = await browser.post(
        html.unescape(form[1]),
        data={"username": person.username, "password": person.password, "credentialId": ""},
        headers={"Cookie": cookies},
    )
    if back.status_code != 302:
        await browser.aclose()
        raise RuntimeError(f"{person.username} could not log in ({back.status_code})")
    landed = await browser.get(back.headers["location"], follow_redirects=True)
    if landed.status_code != 200 or landed.url.path != person.home:
        await browser.aclose()
        raise RuntimeError(f"{person.username} landed on {landed.url} ({landed.status_code})")
    return browser
