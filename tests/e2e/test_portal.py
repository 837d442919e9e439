"""People work in the portal in a real browser (Debian's chromium through Playwright), logged in
at the local Keycloak: a partner's staff member accepts an offer, reports the start and a week's
attendance; the municipality's caseworker then sees the resident in a placement, with the
attendance in the journey; another partner sees none of it and cannot act on it. Screenshots of
each step are kept in .local/test-artifacts/portal/."""

from __future__ import annotations

import re
import secrets
import shutil
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from scripts.demo.portal import portal_environment, service_doors
from scripts.harness import Platform
from scripts.stack.identity import IdentityProvider
from shared.persistence import mongo_client
from shared.settings import Settings
from tests.e2e.test_gateway import (
    HALMSTAD,
    HOTEL,
    KUNGSBACKA,
    RESIDENT,
    RESIDENT_NAME,
    SHOP,
    _set_up,
)
from tests.gateway_support import HttpTenant, gateway_running, http_tenants

ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts" / "portal"


@pytest.fixture
async def portal(
    env: dict[str, str],
    settings: Settings,
    platform: Platform,
    identity_provider: IdentityProvider,
    tmp_path: Path,
) -> AsyncIterator[tuple[str, dict[Any, HttpTenant]]]:
    async with (
        gateway_running(
            env,
            identity_provider.issuer,
            tmp_path / "gateway.log",
            extra={
                **portal_environment(identity_provider),
                **service_doors(platform),
            },
        ) as url,
        http_tenants(identity_provider, url, HALMSTAD, KUNGSBACKA, HOTEL, SHOP) as tenants,
    ):
        yield url, tenants


@pytest.fixture
def screenshots() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def _person(provider: IdentityProvider, tenant: Any, role: str) -> tuple[str, str]:
    username = f"{role}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    provider.register_person(tenant, username, password, role)
    return username, password


async def _log_in(page: Page, base: str, username: str, password: str) -> None:
    await page.goto(f"{base}/portal/")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#kc-login")
    await page.wait_for_url(re.compile(r".*/portal/(placeringar|deltagare)$"))


async def _until(page: Page, selector: str, timeout: float = 60.0) -> None:
    """Reload until the stream has brought what the page should show."""
    for _ in range(int(timeout / 1.5)):
        if await page.locator(selector).count():
            return
        await page.wait_for_timeout(1_500)
        await page.reload()
    raise AssertionError(f"{selector} never appeared on {page.url}")


async def _sent_and_applied(page: Page) -> None:
    await page.wait_for_url(re.compile(r".*/portal/skickat/.*"))
    await page.wait_for_function(
        "() => !document.querySelector('#status').textContent.includes('Tas emot')",
        timeout=60_000,
    )
    assert "Klart" in await page.locator("#status").inner_text()


async def _reads_the_identity_with_a_reason(
    page: Page, settings: Settings, platform: Platform, screenshots: Path
) -> None:
    """The caseworker sees the resident's identity only after giving a reason; intake audits the
    read with the caseworker and the reason, and sends the personnummer's date part only."""
    assert await page.locator("#identity-name").count() == 0
    await page.fill("#identity input[name=skal]", "Uppföljningssamtal inbokat med deltagaren")
    await page.click("#identity button")
    await page.wait_for_selector("#identity-name")
    assert await page.locator("#identity-name").inner_text() == RESIDENT_NAME
    shown = await page.content()
    assert RESIDENT[:8] + "-****" in shown and RESIDENT not in shown
    await page.screenshot(path=str(screenshots / "5b-caseworker-identity.png"))
    client = mongo_client(settings)
    try:
        intake = client[settings.database_name("intake")]
        [read] = await intake["audit"].find({"action": "read"}).to_list()
        [participant] = await intake["participants"].find({}, {"_id": 1}).to_list()
    finally:
        await client.close()
    assert read["reason"] == "Uppföljningssamtal inbokat med deltagaren"
    assert read["actor"].startswith("municipality:1380/insats-portal/")
    assert read["participant_id"] == participant["_id"]
    # Intake's door: the portal's secret, and then only for the resident's own municipality,
    # even given the participant's real id; the refusal is audited too.
    endpoint = f"http://127.0.0.1:{platform.services['intake'].port}/identity-reads"
    asked = {
        "municipality": "1384",
        "participant_id": participant["_id"],
        "actor": "municipality:1384/test",
        "reason": "Nyfiken på en annan kommuns deltagare",
    }
    async with httpx.AsyncClient() as http:
        assert (await http.post(endpoint, json=asked)).status_code == 401
        assert settings.identity_read_secret is not None
        secret = {"Authorization": f"Bearer {settings.identity_read_secret.get_secret_value()}"}
        refused = await http.post(endpoint, json=asked, headers=secret)
    assert (refused.status_code, refused.json()) == (404, {"reason": "UNKNOWN_PARTICIPANT"})
    client = mongo_client(settings)
    try:
        audit = client[settings.database_name("intake")]["audit"]
        [entry] = await audit.find({"action": "read_refused"}).to_list()
    finally:
        await client.close()
    assert (entry["municipality"], entry["ground"]) == ("1384", "referred by another municipality")


async def test_a_partner_accepts_an_offer_and_reports_attendance_and_the_caseworker_sees_it(
    portal: tuple[str, dict[Any, HttpTenant]],
    settings: Settings,
    platform: Platform,
    identity_provider: IdentityProvider,
    browser: Browser,
    screenshots: Path,
) -> None:
    base, tenants = portal
    offer = await _set_up(tenants, settings)
    placement = offer["placement_id"]
    staff = _person(identity_provider, HOTEL, "partner-staff")
    caseworker = _person(identity_provider, HALMSTAD, "caseworker")
    other_partner = _person(identity_provider, SHOP, "partner-staff")
    other_caseworker = _person(identity_provider, KUNGSBACKA, "caseworker")

    page = await (await browser.new_context()).new_page()
    await _log_in(page, base, *staff)
    await _until(page, f'tr[data-placement="{placement}"]')
    await page.screenshot(path=str(screenshots / "1-partner-offer.png"), full_page=True)
    await page.locator(f'tr[data-placement="{placement}"] button[value="acceptera"]').click()
    await _sent_and_applied(page)
    await page.screenshot(path=str(screenshots / "2-partner-accepted.png"), full_page=True)

    await page.goto(f"{base}/portal/placeringar")
    ongoing = f'article[data-placement="{placement}"]'
    await _until(page, f"{ongoing} >> text=Rapportera start")
    await page.locator(f"{ongoing} input[name=datum]").first.fill("2026-03-23")
    await page.locator(f"{ongoing} button", has_text="Rapportera start").click()
    await _sent_and_applied(page)

    await page.goto(f"{base}/portal/placeringar")
    await _until(page, f'{ongoing} [data-status="pagar"]')
    await page.locator(f"{ongoing} summary", has_text="Rapportera närvaro").click()
    form = page.locator(f'{ongoing} form[action$="/narvaro"]')
    await form.locator("input[name=fran]").fill("2026-03-23")
    await form.locator("input[name=till]").fill("2026-03-27")
    await form.locator("input[name=planerade_timmar]").fill("20")
    await form.locator("input[name=narvarande_timmar]").fill("16")
    await form.locator("select[name=franvaro_orsak_1]").select_option("sjuk")
    await form.locator("input[name=franvaro_timmar_1]").fill("4")
    await page.screenshot(path=str(screenshots / "3-partner-attendance.png"), full_page=True)
    await form.locator("button").click()
    await _sent_and_applied(page)
    # New hours from next week, and a note of concern: both applied by placement.
    await page.goto(f"{base}/portal/placeringar")
    await page.locator(f"{ongoing} summary", has_text="Pausa eller ändra timmar").click()
    change = page.locator(f'{ongoing} form[action$="/andring"]')
    await change.locator("select[name=andring]").select_option("andra_timmar")
    await change.locator("input[name=timmar_per_vecka]").fill("25")
    await change.locator("button").click()
    await _sent_and_applied(page)
    await page.goto(f"{base}/portal/placeringar")
    await page.locator(f"{ongoing} summary", has_text="Anmäl oro").click()
    concern = page.locator(f'{ongoing} form[action$="/oro"]')
    await concern.locator("textarea[name=anteckning]").fill("Har varit trött och tyst i veckan.")
    await concern.locator("button").click()
    await _sent_and_applied(page)
    await page.click("text=Logga ut")
    await page.wait_for_url(re.compile(r".*/portal/utloggad$"))

    page = await (await browser.new_context()).new_page()
    await _log_in(page, base, *caseworker)
    resident = "tr[data-participant] >> text=i insats"
    await _until(page, resident)
    await page.screenshot(path=str(screenshots / "4-caseworker-residents.png"), full_page=True)
    shown_id = await page.locator("tr[data-participant]").first.get_attribute("data-participant")
    await page.locator("tr[data-participant] a").first.click()
    await _until(page, "text=Närvaro rapporterad")
    journey = await page.locator("ol.journey").inner_text()
    assert "Placering startad" in journey
    await page.screenshot(path=str(screenshots / "5-caseworker-journey.png"), full_page=True)
    await _reads_the_identity_with_a_reason(page, settings, platform, screenshots)
    # Halmstad defined halmstad-150: it owns it, and sees its results; nobody else's.
    await page.click("nav >> text=Program")
    await page.click('[data-programme="halmstad-150"] a')
    await page.wait_for_selector("#verdict")
    await page.screenshot(path=str(screenshots / "6-owner-programme.png"), full_page=True)
    async with page.expect_download() as started:
        await page.click("#funder-files")
    download = await started.value
    with zipfile.ZipFile(str(await download.path())) as archive:
        assert "halmstad-150.xlsx" in archive.namelist()
        assert "halmstad-150-indikatorer.csv" in archive.namelist()
    assert (await page.request.get(f"{base}/portal/program/kungsbacka-iop")).status == 404

    page = await (await browser.new_context()).new_page()
    await _log_in(page, base, *other_partner)
    assert await page.locator(f'[data-placement="{placement}"]').count() == 0
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    foreign = await page.request.post(
        f"{base}/portal/placeringar/{placement}/svar",
        form={"csrf": csrf or "", "svar": "avboj", "nyckel": secrets.token_hex(8)},
    )
    assert foreign.status == 404
    # A caseworker's pages are not a partner's.
    assert (await page.request.get(f"{base}/portal/deltagare")).status == 404

    # Another municipality's caseworker sees none of Halmstad's residents, neither their page nor
    # their identity.
    page = await (await browser.new_context()).new_page()
    await _log_in(page, base, *other_caseworker)
    assert await page.locator("tr[data-participant]").count() == 0
    assert (await page.request.get(f"{base}/portal/deltagare/{shown_id}")).status == 404
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    read = await page.request.post(
        f"{base}/portal/deltagare/{shown_id}/identitet",
        form={"csrf": csrf or "", "skal": "Vill se en annan kommuns deltagare"},
    )
    assert read.status == 404
    assert RESIDENT_NAME not in await read.text()
