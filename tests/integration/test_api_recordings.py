"""Call recordings in the 360 view over real HTTP (SQLite and PostgreSQL): with
``recording_base_url`` a recorded call carries ``recording_url`` (the base + its file
name, URL-quoted); without the setting, or without a recording, it is null."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_core.models import CallRecord, Customer, PhoneNumber
from tests.integration.test_api_support import Api, running_api, signed_in

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


async def _seed(api: Api) -> int:
    async with api.sessionmaker.begin() as db:
        customer = Customer(name="北京艾克美印刷有限公司", name_key="艾克美印刷",
                            status="active", owner_id=api.users.agent)
        db.add(customer)
        await db.flush()
        db.add(PhoneNumber(customer_id=customer.id, number_e164="+8613800138000",
                           raw="13800138000"))
        for i, recording in enumerate(["2026/11/25/1795478331.182.wav", None,
                                       "../../etc/passwd"]):
            db.add(CallRecord(linkedid=f"1795478331.{i}", caller="+8613800138000",
                              outcome="answered", customer_id=customer.id,
                              ended_at=T0 - timedelta(minutes=i), recording=recording))
        return int(customer.id)


def _urls(view: dict[str, object]) -> dict[str, object]:
    calls = view["calls"]
    assert isinstance(calls, list)
    return {c["linkedid"]: c["recording_url"] for c in calls}


async def test_recording_url_with_a_base_url(db_url: str) -> None:
    async with running_api(db_url, recording_base_url="https://pbx.example.com/rec/") as api:
        customer_id = await _seed(api)
        async with signed_in(api, "agent") as agent:
            resp = await agent.get(f"/customers/{customer_id}/360")
            assert resp.status == 200
            by_id = await resp.json()
            resp = await agent.get("/lookup", params={"phone": "13800138000"})
            by_phone = await resp.json()
    for view in (by_id, by_phone):
        assert _urls(view) == {
            "1795478331.0": "https://pbx.example.com/rec/2026/11/25/1795478331.182.wav",
            "1795478331.1": None,  # not recorded
            "1795478331.2": None,  # a name that would leave the folder: never a link
        }
        assert view["calls"][0]["recording"] == "2026/11/25/1795478331.182.wav"


async def test_no_recording_url_without_a_base_url(db_url: str) -> None:
    async with running_api(db_url) as api:
        customer_id = await _seed(api)
        async with signed_in(api, "agent") as agent:
            view = await (await agent.get(f"/customers/{customer_id}/360")).json()
    assert set(_urls(view).values()) == {None}
