"""The console pages over plain HTTP (no browser): who is sent where, the security
headers of pages and files, and the static route's refusals, against the real app
(on SQLite and PostgreSQL); plus ``pages.root`` (``/`` -> the right page) mounted
on an app of its own, since the live calls page still answers ``/`` in hotline.app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from agent_console import pages
from agent_console.api import SESSIONMAKER, ApiConfig, create_api_app
from agent_console.api.auth import AUTH
from agent_console.api.auth_store import SqlAuthStore
from crm_core.db import make_engine, upgrade_async
from crm_core.demo_data import DEMO_PASSWORD, seed_demo
from telephony.simulator import PbxSimulator
from tests.browser.conftest import Console, running_console


@pytest.fixture
async def console_http(db_url: str, sim: PbxSimulator) -> AsyncIterator[Console]:
    async with running_console(db_url, sim) as c:
        yield c


async def signed_in(http: aiohttp.ClientSession, base: str, username: str) -> None:
    async with http.post(f"{base}/api/v1/session",
                         json={"username": username, "password": DEMO_PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()


async def where(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url, allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location", "")


async def test_pages_send_each_user_to_the_right_place(console_http: Console) -> None:
    base = console_http.base
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path in ("/console", "/records", "/records/1", "/records?q=x"):
            status, location = await where(http, base + path)
            assert status == 302 and location.startswith("/login?next="), path
            assert parse_qs(urlsplit(location).query)["next"] == [path]
        async with http.get(f"{base}/login") as resp:
            assert resp.status == 200
            assert resp.headers["Cache-Control"] == "no-store"
            html = await resp.text()
            assert "login.js" in html
        await signed_in(http, base, "alice")
        assert await where(http, f"{base}/login") == (302, "/console")
        assert await where(http, f"{base}/login?next=/records/3") == (302, "/records/3")
        assert await where(http, f"{base}/login?next=//evil.example/") == (302, "/console")
        for path in ("/console", "/records", "/records/1"):
            assert (await where(http, base + path))[0] == 200, path
        assert (await where(http, f"{base}/records/abc"))[0] == 404
        assert (await where(http, f"{base}/records/99999999999"))[0] == 404
        async with http.delete(f"{base}/api/v1/session") as resp:
            assert resp.status == 403  # a write without the CSRF token: refused
        assert (await where(http, f"{base}/console"))[0] == 200  # still signed in

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await signed_in(http, base, "wang.lei")  # an account manager answers no phone
        assert await where(http, f"{base}/login") == (302, "/records")
        assert await where(http, f"{base}/console") == (302, "/records")
        assert await where(http, f"{base}/admin") == (302, "/records")  # not an admin

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        # the hotline's supervisor watches every call: the live page is her work; her
        # desk phone (for listening in) opens the console to her too, should she answer
        await signed_in(http, base, "zhao.min")
        assert await where(http, f"{base}/login") == (302, "/live")
        assert (await where(http, f"{base}/console"))[0] == 200
        assert await where(http, f"{base}/admin") == (302, "/live")
        assert await where(http, f"{base}/login?next=/records/3") == (302, "/records/3")

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        status, location = await where(http, f"{base}/admin")
        assert status == 302 and parse_qs(urlsplit(location).query)["next"] == ["/admin"]
        await signed_in(http, base, "admin")
        assert (await where(http, f"{base}/admin"))[0] == 200
        assert await where(http, f"{base}/login?next=/admin") == (302, "/admin")
        assert await where(http, f"{base}/console") == (302, "/records")


async def test_page_and_file_headers_and_static_refusals(console_http: Console) -> None:
    base = console_http.base
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path, kind in (("/login", "text/html"), ("/static/console/js/console.js",
                                                     "text/javascript"),
                           ("/static/console/console.css", "text/css"),
                           ("/static/console/i18n/zh-CN.json", "application/json")):
            async with http.get(base + path) as resp:
                assert resp.status == 200, path
                assert resp.headers["Content-Type"].startswith(kind)
                for name, value in pages.SECURITY_HEADERS.items():
                    assert resp.headers[name] == value, (path, name)
        for path in ("/static/console/%2e%2e/pages.py", "/static/console/nothing.js",
                     "/static/console/js/%2e%2e/%2e%2e/pages.py", "/static/console/js/",
                     "/static/console/..%5c..%5cpages.py"):
            async with http.get(base + path, allow_redirects=False) as resp:
                assert resp.status == 404, path


@pytest.fixture
async def pages_only(tmp_path: Path) -> AsyncIterator[str]:
    """An app with the API and the console pages, ``/`` served by ``pages.root``."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'root.db'}"
    await upgrade_async(url)
    engine = make_engine(url)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    await seed_demo(sessionmaker)
    app = web.Application()
    app[SESSIONMAKER] = sessionmaker  # as hotline.app does: the pages and the API share it
    # the API keeps its sign-in state (sign-outs) in a store every node shares: here the
    # database, as hotline.app does without Redis
    api = create_api_app(ApiConfig(secret_key=b"k" * 32), store=SqlAuthStore(engine))
    pages.add_pages(app, api[AUTH])
    pages.add_root(app)
    app.add_subapp("/api/v1", api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await engine.dispose()


async def test_root_sends_to_sign_in_console_or_records(pages_only: str) -> None:
    base = pages_only
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await where(http, f"{base}/") == (302, "/login")
        await signed_in(http, base, "carol")
        assert await where(http, f"{base}/") == (302, "/console")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await signed_in(http, base, "admin")
        assert await where(http, f"{base}/") == (302, "/records")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await signed_in(http, base, "zhao.min")
        assert await where(http, f"{base}/") == (302, "/live")
