"""Browser tests: headless Debian Chromium driven by Playwright (async API), against
a real app: ``hotline.app.create_app`` on a free port, its database migrated and
seeded with the demo CRM (``crm_core.demo_data``), connected over real AMI/TCP to
the PBX simulator, which the tests drive (calls, agents) from the same event loop.

Rules:
- Chromium is Debian's (``/usr/bin/chromium``; ``.ci/run`` installs it); no browser
  is ever downloaded. Missing: a FAILURE in CI, a loud skip elsewhere;
- every page records what must never happen: a JavaScript dialog (``alert``), an
  uncaught error, a Content-Security-Policy violation; ``Browser.assert_clean()``
  checks them at the end of each test;
- tests assert behaviour (what the agent sees, what the PBX was asked, what the
  database holds), never timings; waits are for conditions.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.demo_data import DEMO_PASSWORD, seed_demo
from crm_core.models import Role, RolePermission
from telephony.simulator import PbxSimulator
from tests.integration.console_support import app_settings, serving, started

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}  # a phone held upright (the station's page)
# the page notes what must never happen; Playwright injects this outside the page's CSP
RECORDER = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || ""));
});
"""


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing and CI is set: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} not installed (outside CI only): apt-get install chromium")


@dataclass
class Console:
    """The running app under test."""

    app: web.Application
    port: int
    db_url: str
    sim: PbxSimulator

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def running_console(db_url: str, sim: PbxSimulator, **overrides: Any
                          ) -> AsyncIterator[Console]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        await seed_demo(async_sessionmaker(engine, expire_on_commit=False))
    finally:
        await engine.dispose()
    settings = app_settings(db_url, sim.port, "browser-test-secret", **{
        "ami_ping_interval_s": 1.0, "ami_ping_timeout_s": 2.0,
        "agi_port": 0, **overrides,  # every port a free one
    })
    async with serving(settings) as (app, port):
        yield Console(app, port, db_url, sim)


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    # real time: the agent's phone rings for seconds, as it would
    async with started(PbxSimulator(time_scale=1.0)) as pbx:
        yield pbx


@pytest.fixture
async def console(tmp_path: Path, sim: PbxSimulator) -> AsyncIterator[Console]:
    async with running_console(f"sqlite+aiosqlite:///{tmp_path / 'console.db'}", sim) as c:
        yield c


@pytest.fixture
async def console_db(db_url: str, sim: PbxSimulator) -> AsyncIterator[Console]:
    """The app on SQLite and on PostgreSQL (``db_url`` is parametrised on both)."""
    async with running_console(db_url, sim) as c:
        yield c


@dataclass
class Browser:
    """Chromium with one context per user; what the pages did wrong is collected."""

    chromium: Any
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)

    async def page(self, *, locale: str = "en-US", phone: bool = False) -> Any:
        """A page in a new context; ``phone``: a phone's narrow touch screen."""
        screen = {"viewport": PHONE, "is_mobile": True, "has_touch": True} if phone \
            else {"viewport": VIEWPORT}
        context = await self.chromium.new_context(locale=locale, **screen)
        await context.add_init_script(RECORDER)
        page = await context.new_page()

        async def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.pages.append(page)
        return page

    async def violations(self) -> list[str]:
        found: list[str] = []
        for page in self.pages:
            if not page.is_closed():
                found += await page.evaluate("window.__violations || []")
        return found

    async def assert_clean(self) -> None:
        assert self.dialogs == [], f"a JavaScript dialog opened: {self.dialogs}"
        assert self.errors == [], f"uncaught errors in the page: {self.errors}"
        assert await self.violations() == [], "Content-Security-Policy violations"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield Browser(chromium)
        finally:
            await chromium.close()


async def sign_in(page: Any, console: Console, username: str, *,
                  password: str = DEMO_PASSWORD, expect: str = "/console") -> None:
    """Sign in through the login page, as a person would, and wait for the next page."""
    await page.goto(f"{console.base}/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_url(f"**{expect}*")
    # the live calls page (a hotline supervisor's start) is ready once its socket is up
    await page.wait_for_selector(".status.on" if expect == "/live" else "body[data-ready='1']")


async def grant(console: Console, role: str, module: str, operation: str, scope: str) -> None:
    """Give ``role`` one more permission, as a site's admin would in the database."""
    engine = make_engine(console.db_url)
    try:
        async with async_sessionmaker(engine).begin() as db:
            role_id = await db.scalar(select(Role.id).where(Role.name == role))
            assert role_id is not None, role
            db.add(RolePermission(role_id=role_id, module=module, operation=operation,
                                  scope=scope))
    finally:
        await engine.dispose()


def screenshot_dir() -> Path | None:
    """Where screenshots go when asked for (``HOTLINE_SCREENSHOTS=dir``)."""
    target = os.environ.get("HOTLINE_SCREENSHOTS")
    if not target:
        return None
    path = Path(target)
    path.mkdir(parents=True, exist_ok=True)
    return path

