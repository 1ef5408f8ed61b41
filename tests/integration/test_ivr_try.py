"""``hotline ivr try`` as a user runs it: the real command in its own process, against a
seeded database (SQLite and PostgreSQL), without a PBX. The last line is the JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_core.db import make_engine, upgrade_async
from crm_core.models import Ticket
from tests.integration.test_ivr_runtime import MANAGER, PLAIN_PHONE, STRANGER, VIP_PHONE, Crm, seed

OPEN = "2026-11-25T10:00:00+08:00"


@pytest.fixture
async def crm(db_url: str) -> AsyncIterator[tuple[str, Crm]]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        yield db_url, await seed(engine)
    finally:
        await engine.dispose()


async def hotline_ivr_try(db_url: str, *args: str) -> tuple[int, list[str]]:
    env = {**os.environ, "HOTLINE_DATABASE_URL": db_url, "PYTHONIOENCODING": "utf-8"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hotline.cli", "ivr", "try", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    lines = out.decode("utf-8").splitlines()
    if proc.returncode == 0:
        assert lines, err.decode()
    return proc.returncode, lines


def last_json(lines: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(lines[-1])
    return result


async def tickets(crm: Crm) -> int:
    async with crm.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(Ticket)) or 0)


async def test_vip_caller_presses_0(crm: tuple[str, Crm]) -> None:
    url, data = crm
    code, lines = await hotline_ivr_try(url, "--did", "4008001234", "--caller", VIP_PHONE,
                                        "--dtmf", "0", "--now", OPEN, "--agent-free", MANAGER)
    assert code == 0
    result = last_json(lines)
    assert list(result)[:5] == ["queue", "priority", "preferred_agent", "customer_id", "path"]
    assert (result["queue"], result["priority"], result["preferred_agent"],
            result["customer_id"]) == ("support", 20, MANAGER, data.vip)
    assert result["path"][-3:] == ["main_menu:0", "to_agent", "queue"]
    assert result["digits"] == ["0"] and result["entry"] == "400:"
    text = "\n".join(lines)
    assert "step welcome" in text and "play welcome_back [zh] 欢迎回来。" in text
    assert "play transfer [zh]" in text


async def test_the_documented_example_and_an_unknown_caller(crm: tuple[str, Crm]) -> None:
    url, data = crm
    code, lines = await hotline_ivr_try(url, "--did", "4008001234", "--caller", VIP_PHONE,
                                        "--dtmf", "1,2,#", "--now", OPEN)
    assert code == 0
    result = last_json(lines)
    assert result["path"][9:16] == ["main_menu:1", "has_ticket", "my_tickets", "more",
                                    "more:2", "more:#", "more:timeout"]
    assert result["preferred_agent"] is None  # nobody is free without a PBX
    assert "  say digits 202611240007 [zh]" in lines
    assert result["outcome"] == "hangup"
    # an unknown caller on a number outside the plan, in English
    code, lines = await hotline_ivr_try(url, "--did", "02199998888", "--caller", STRANGER,
                                        "--dtmf", "0", "--now", OPEN, "--lang", "en")
    result = last_json(lines)
    assert (result["customer_id"], result["entry"], result["queue"]) == (None, "unknown:",
                                                                         "support")
    assert any("Hello, welcome to the service hotline." in line for line in lines)


async def test_repair_is_rolled_back_unless_committed(crm: tuple[str, Crm]) -> None:
    url, data = crm
    before = await tickets(data)
    # device 2: no open repair yet (device 1 has one, ``test_ivr_runtime``)
    code, lines = await hotline_ivr_try(url, "--caller", VIP_PHONE, "--dtmf", "3,2,0",
                                        "--now", OPEN)
    result = last_json(lines)
    assert result["services"]["repair_request"]["ticket"].startswith("T20261125-")
    assert any("rolled back" in line for line in lines)
    assert await tickets(data) == before
    code, lines = await hotline_ivr_try(url, "--caller", VIP_PHONE, "--dtmf", "3,2,0",
                                        "--now", OPEN, "--commit")
    assert code == 0 and await tickets(data) == before + 1
    # the same request again: added to that ticket, not a second one
    code, lines = await hotline_ivr_try(url, "--caller", VIP_PHONE, "--dtmf", "3,2,0",
                                        "--now", OPEN, "--commit")
    again = last_json(lines)["services"]["repair_request"]
    assert code == 0 and await tickets(data) == before + 1
    assert again["already_open"] and again["ticket"] == result["services"][
        "repair_request"]["ticket"]
    assert any(line.startswith("  play repair_already_open [zh]") for line in lines)


async def test_hang_up_garbage_and_a_bad_clock(crm: tuple[str, Crm]) -> None:
    url, data = crm
    code, lines = await hotline_ivr_try(url, "--caller", PLAIN_PHONE, "--dtmf", "7,hangup",
                                        "--now", OPEN)
    result = last_json(lines)
    assert (result["ended"], result["outcome"]) == ("hangup", "caller_hangup")
    assert result["path"][-2:] == ["main_menu", "main_menu:7"]
    assert result["customer_id"] == data.plain
    code, lines = await hotline_ivr_try(url, "--dtmf", "0", "--now", "next tuesday")
    assert code == 2
