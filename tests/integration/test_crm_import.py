"""Import and export as a company arriving with its Excel/Access lists would use them,
on SQLite and PostgreSQL: errors and duplicates reported row by row, dry run writes
nothing, the good rows only are written; exports open in Excel with Chinese intact."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.db import make_engine, upgrade_async
from crm_core.exporter import CUSTOMER_COLUMNS, export_list, export_rows, header_text
from crm_core.importer import import_file, load_mapping
from crm_core.models import (
    Asset,
    AuditEntry,
    Contact,
    Customer,
    OwnershipChange,
    PhoneNumber,
    ProductLine,
    User,
)
from crm_core.permissions import SYSTEM, Actor, PermissionDenied

HEADERS = ["客户名称*", "联系人", "手机", "电话", "省份", "城市", "行业", "负责人", "产品线",
           "型号", "序列号", "购买日期", "保修截止"]
ROWS: list[list[Any]] = [
    ["上海新华书店有限公司", "张伟", "13900139000", "021-6432 2000", "上海", "上海", "图书",
     "王磊", "PRN", "LX-200", "SN-001", "2024/5/1", "2026年5月1日"],           # 2 good
    [None, "李四", "13900139001", None, None, None, None, None, None, None, None, None, None],
    ["坏号码公司", None, "12345", None, None, None, None, None, None, None, None, None, None],
    ["日期公司", None, None, None, None, None, None, None, None, None, "SN-002", "2024-13-45",
     None],                                                                       # 5 bad date
    ["无主公司", None, None, None, None, None, None, "nobody", None, None, None, None, None],
    ["华东医药包装", None, None, None, None, None, None, None, None, None, None, None, None],
    ["另一家公司", None, "138 0013 8000", None, None, None, None, None, None, None, None, None,
     None],                                                                       # 8 DB phone
    ["上海新华书店", None, None, None, None, None, None, None, None, None, None, None, None],
    ["新客户公司", None, "+86 139 0013 9000", None, None, None, None, None, None, None, None,
     None, None],                                                                 # 10 file phone
    ["设备重复公司", None, None, None, None, None, None, None, None, None, "SN-EXIST", None,
     None],                                                                       # 11 DB serial
    ["Good Co., Ltd.", "Tom Lee", 13700137000, None, "广东", "深圳", None, "li.na", "打印机",
     None, "SN-003", 45413, None],                                                # 12 good
]
EXPECTED = [
    (3, "客户名称*", "", "the customer name is missing", "error"),
    (4, "手机", "12345", "not a valid phone number", "error"),
    (5, "购买日期", "2024-13-45",
     "expected a date such as 2024-05-01, 2024/5/1 or 2024年5月1日", "error"),
    (6, "负责人", "nobody", "unknown owner (no user with this username or name)", "error"),
    (7, "客户名称*", "华东医药包装",
     "duplicate: same name as customer 1 华东医药包装有限公司 (owner: 王磊)", "duplicate"),
    (8, "手机", "138 0013 8000",
     "duplicate: same phone number as customer 1 华东医药包装有限公司 (owner: 王磊)",
     "duplicate"),
    (9, "客户名称*", "上海新华书店",
     "duplicate in this file: same name as row 2 (上海新华书店有限公司)", "duplicate"),
    (10, "手机", "+86 139 0013 9000",
     "duplicate in this file: same phone number as row 2 (上海新华书店有限公司)", "duplicate"),
    (11, "序列号", "SN-EXIST",
     "duplicate: serial number already registered (customer 1 华东医药包装有限公司)",
     "duplicate"),
]


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker.begin() as s:
        wang = User(username="wang.lei", display_name="王磊")
        s.add_all([wang, User(username="li.na", display_name="李娜"),
                   ProductLine(code="PRN", name="打印机", name_en="Printers")])
        await s.flush()
        existing = Customer(name="华东医药包装有限公司", name_key="华东医药包装", owner_id=wang.id)
        s.add(existing)
        await s.flush()
        s.add_all([
            PhoneNumber(customer_id=existing.id, number_e164="+8613800138000",
                        raw="13800138000", kind="mobile"),
            Asset(customer_id=existing.id, serial_number="SN-EXIST"),
        ])
    yield maker
    await engine.dispose()


def _xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def _csv(path: Path, rows: list[list[Any]], encoding: str) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([["" if v is None else v for v in r] for r in rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


async def _count(maker: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with maker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def _issues(result: Any) -> list[tuple[Any, ...]]:
    return [(i.row, i.column, i.value, i.message, i.kind) for i in result.issues]


async def test_xlsx_with_errors_and_duplicates(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = _xlsx(tmp_path / "客户.xlsx", {"客户名单": [HEADERS, *ROWS]})
    dry = await import_file(sm, path, dry_run=True)
    assert _issues(dry) == EXPECTED
    assert (dry.errors, dry.duplicates, dry.rows) == (4, 5, 11)
    assert dry.created == {"customers": 2, "contacts": 2, "phones": 3, "assets": 2}
    assert await _count(sm, Customer) == 1  # the dry run wrote nothing
    assert await _count(sm, AuditEntry) == 0

    real = await import_file(sm, path)
    assert _issues(real) == EXPECTED
    assert real.created == dry.created
    async with sm() as s:
        names = (await s.scalars(select(Customer.name).order_by(Customer.id))).all()
        assert names == ["华东医药包装有限公司", "上海新华书店有限公司", "Good Co., Ltd."]
        shop = await s.scalar(select(Customer).where(Customer.name == "上海新华书店有限公司"))
        assert shop is not None
        assert (shop.province, shop.city, shop.industry) == ("上海", "上海", "图书")
        assert shop.name_key and shop.owner_since is not None
        wang = await s.scalar(select(User.id).where(User.username == "wang.lei"))
        assert shop.owner_id == wang
        phones = (await s.execute(
            select(PhoneNumber.number_e164, PhoneNumber.kind, Contact.name)
            .outerjoin(Contact, PhoneNumber.contact_id == Contact.id)
            .where(PhoneNumber.customer_id == shop.id).order_by(PhoneNumber.number_e164)
        )).all()
        assert phones == [("+8613900139000", "mobile", "张伟"),
                          ("+862164322000", "landline", None)]
        asset = await s.scalar(select(Asset).where(Asset.serial_number == "SN-001"))
        assert asset is not None and asset.customer_id == shop.id
        assert (asset.purchase_date, asset.warranty_end) == (date(2024, 5, 1), date(2026, 5, 1))
        good = await s.scalar(select(Asset).where(Asset.serial_number == "SN-003"))
        assert good is not None and good.purchase_date == date(2024, 5, 1)  # Excel serial
        audits = (await s.execute(
            select(AuditEntry.action, AuditEntry.entity).order_by(AuditEntry.id)
        )).all()
        assert sorted(set(audits)) == [("import", "asset"), ("import", "contact"),
                                       ("import", "customer")]
        assert audits.count(("import", "customer")) == 2
        history = (await s.execute(select(OwnershipChange.reason))).scalars().all()
        assert history == ["import", "import"]

    again = await import_file(sm, path)  # a second run only finds duplicates and errors
    assert again.created["customers"] == 0
    assert (again.errors, again.duplicates) == (4, 7)
    assert await _count(sm, Customer) == 3


async def test_gbk_csv_auto_mapping_and_report(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rows = [
        ["客户名单 (2024年导出)"],  # a title line above the headers, as Access exports have
        ["公司名称", "联系电话", "地址", "客户经理", "VIP等级", "客户价值", "状态", "来源"],
        ["北京博文进口图书有限公司", "010-5129 7073 / 13600136000", "北京市海淀区中关村大街1号",
         "李娜", "金卡", "￥3.5万", "活跃", "展会"],
        ["读者杂志社", "13400134000", "兰州", "", "VIP9", "", "", ""],
        ["宇通客车服务站（郑州）", "0371-6666 8888", "郑州", "", "", "abc", "休眠", ""],
    ]
    path = _csv(tmp_path / "access.csv", rows, "gbk")
    result = await import_file(sm, path, default_owner="wang.lei")
    assert _issues(result) == [
        (4, "VIP等级", "VIP9", "VIP tier is 0-5 (or 普通/银卡/金卡/钻石)", "error"),
        (5, "客户价值", "abc", "not an amount", "error"),
    ]
    assert any("gb18030" in n for n in result.notes)
    async with sm() as s:
        c = await s.scalar(select(Customer).where(Customer.name.like("北京博文%")))
        assert c is not None
        assert (c.address, c.vip_tier, str(c.vip_value), c.status, c.source) == (
            "北京市海淀区中关村大街1号", 2, "35000.00", "active", "展会")
        li = await s.scalar(select(User.id).where(User.username == "li.na"))
        assert c.owner_id == li  # named in the row, not the --owner default
        numbers = (await s.scalars(
            select(PhoneNumber.number_e164).where(PhoneNumber.customer_id == c.id)
            .order_by(PhoneNumber.number_e164)
        )).all()
        assert numbers == ["+861051297073", "+8613600136000"]

    report = tmp_path / "errors.csv"
    await export_rows([i.as_dict() for i in result.issues],
                      [(k, k) for k in ("row", "column", "value", "message")], report)
    raw = report.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines == [["row", "column", "value", "message"],
                     ["4", "VIP等级", "VIP9", "VIP tier is 0-5 (or 普通/银卡/金卡/钻石)"],
                     ["5", "客户价值", "abc", "not an amount"]]


async def test_utf8_bom_csv_with_mapping_override(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rows = [["Firma", "Tel", "Notiz"], ["Lanxi Printers Co., Ltd.", "0086-135-0013-5000", "x"]]
    path = _csv(tmp_path / "en.csv", rows, "utf-8-sig")
    with pytest.raises(ValueError, match="no column for the customer name"):
        await import_file(sm, path)
    mapping = load_mapping(None, ["Firma=name", "Tel=phone", "Notiz="])
    result = await import_file(sm, path, mapping=mapping)
    assert result.issues == [] and result.created["customers"] == 1
    with pytest.raises(ValueError, match="no such field"):
        await import_file(sm, path, mapping=load_mapping(None, ["Firma=nom"]))


async def test_separate_contacts_and_assets_sheets(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = _xlsx(tmp_path / "book.xlsx", {
        "客户": [["客户编号", "客户名称", "电话"],
                 ["C001", "深圳速印打印机维修中心", "(0755)83210000"],
                 ["C002", "王芳", "13100131001"]],
        "联系人": [["客户编号", "姓名", "职务", "手机"],
                   ["C001", "陈静", "采购", "13300133000"],
                   ["C009", "无名", "", ""],
                   ["C002", "王芳", "", "13100131001"]],
        "设备": [["客户名称", "序列号", "型号", "产品线", "保修截止"],
                 ["华东医药包装有限公司", "SN-100", "BP-9", "PRN", "2025.1.31"],
                 ["深圳速印打印机维修中心", "SN-101", "", "Printers", ""],
                 ["不存在公司", "SN-102", "", "", ""],
                 ["深圳速印打印机维修中心", "SN-100", "", "", ""],
                 ["深圳速印打印机维修中心", "SN-103", "", "Forklifts", ""]],
    })
    result = await import_file(sm, path)
    assert _issues(result) == [
        (3, "客户编号", "C009", "no customer with this code in this import", "error"),
        (4, "客户名称", "不存在公司", "no customer with this name", "error"),
        (5, "序列号", "SN-100", "duplicate in this file: same serial number as row 2",
         "duplicate"),
        (6, "产品线", "Forklifts", "unknown product line", "error"),
    ]
    assert [i.sheet for i in result.issues] == ["联系人", "设备", "设备", "设备"]
    assert result.created == {"customers": 2, "contacts": 2, "phones": 3, "assets": 2}
    async with sm() as s:
        chen = await s.scalar(select(Contact).where(Contact.name == "陈静"))
        assert chen is not None and chen.role == "采购"
        owner = await s.scalar(select(Customer.name).where(Customer.id == chen.customer_id))
        assert owner == "深圳速印打印机维修中心"
        # 王芳's number was already the customer's: not stored twice
        assert await s.scalar(select(func.count()).select_from(PhoneNumber).where(
            PhoneNumber.number_e164 == "+8613100131001")) == 1
        assert (await s.scalar(select(Asset.warranty_end).where(
            Asset.serial_number == "SN-100"))) == date(2025, 1, 31)


async def test_import_needs_the_create_grant(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = _xlsx(tmp_path / "a.xlsx", {"客户": [HEADERS, *ROWS[:1]]})
    reader = Actor(user_id=None, username="r", grants={("customers", "read"): "all"})
    with pytest.raises(PermissionDenied):
        await import_file(sm, path, actor=reader)
    assert await _count(sm, Customer) == 1


async def test_export_round_trip_csv_and_xlsx(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    await import_file(sm, _xlsx(tmp_path / "a.xlsx", {"客户": [HEADERS, *ROWS]}))
    xlsx = tmp_path / "out.xlsx"
    assert await export_list(sm, SYSTEM, "customers", xlsx) == 3
    wb = load_workbook(xlsx, read_only=True)
    table = [list(r) for r in wb.active.iter_rows(values_only=True)]
    wb.close()
    assert table[0] == [header_text(h) for _, h in CUSTOMER_COLUMNS]  # zh-CN headers
    shop = next(r for r in table if r[1] == "上海新华书店有限公司")
    assert shop[9] == "021-6432 2000; 13900139000" and shop[13] == "王磊"

    out_csv = tmp_path / "out.csv"
    assert await export_list(sm, SYSTEM, "customers", out_csv, lang="en") == 3
    text = out_csv.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert rows[0]["name"] == "华东医药包装有限公司" and rows[0]["owner"] == "王磊"

    # what we export, we can import again: every row is recognised as a duplicate
    for path in (xlsx, out_csv):
        back = await import_file(sm, path, dry_run=True)
        assert (back.errors, back.duplicates, back.created["customers"]) == (0, 3, 0)

    assets = tmp_path / "assets.xlsx"
    assert await export_list(sm, SYSTEM, "assets", assets) == 3
    cells = [list(r) for r in load_workbook(assets).active.iter_rows(values_only=True)]
    assert cells[0][:4] == ["编号", "客户编号", "客户名称", "产品线"]
    assert {r[5] for r in cells[1:]} == {"SN-EXIST", "SN-001", "SN-003"}


async def test_export_is_formula_safe_and_scoped(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rows = [{"name": "=HYPERLINK(\"http://x\")", "phone": "+8613800138000", "n": -5}]
    cols: list[tuple[str, Any]] = [("name", ("名称", "name")), ("phone", "phone"), ("n", "n")]
    await export_rows(rows, cols, tmp_path / "f.xlsx")
    ws = load_workbook(tmp_path / "f.xlsx").active
    assert ws["A2"].data_type == "s" and ws["A2"].value.startswith("=HYPERLINK")
    await export_rows(rows, cols, tmp_path / "f.csv", lang="en")
    lines = (tmp_path / "f.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "name,phone,n"
    assert lines[1] == '"\'=HYPERLINK(""http://x"")",+8613800138000,-5'

    async with sm() as s:
        li = await s.scalar(select(User.id).where(User.username == "li.na"))
    manager = Actor(user_id=li, username="li.na", grants={("customers", "export"): "own"})
    assert await export_list(sm, manager, "customers", tmp_path / "mine.csv") == 0
    with pytest.raises(PermissionDenied):
        await export_list(sm, manager, "assets", tmp_path / "no.csv")


async def test_customer_created_meanwhile_is_caught_by_the_guard(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-memory index is read at the start; a customer created by someone else
    after that is still refused, by crm_core.duplicates inside the write."""
    import crm_core.importer as importer

    real_load = importer.load_context

    async def stale_context(session: AsyncSession, name_key: Any) -> Any:
        ctx = await real_load(session, name_key)
        ctx.by_key.clear()
        ctx.by_phone.clear()
        return ctx

    monkeypatch.setattr(importer, "load_context", stale_context)
    path = _xlsx(tmp_path / "late.xlsx", {"客户": [
        ["客户名称", "电话"], ["甲公司", "13911119999"], ["华东医药包装有限公司", ""],
        ["乙公司", "138-0013-8000"], ["丙公司", ""],
    ]})
    result = await import_file(sm, path)
    assert result.duplicate_guard == "crm_core.duplicates"
    assert [(i.row, i.kind) for i in result.issues] == [(3, "duplicate"), (4, "duplicate")]
    assert "华东医药包装有限公司 (owner: 王磊)" in result.issues[0].message
    assert result.created["customers"] == 2
    async with sm() as s:
        names = set((await s.scalars(select(Customer.name))).all())
    assert names == {"华东医药包装有限公司", "甲公司", "丙公司"}


async def test_place_and_traditional_spellings_are_duplicates_in_an_import(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    rows = [["客户名称*"], ["上海华东医药包装有限责任公司"], ["華東醫藥包裝有限公司"],
            ["郑州宇通客车服务站"], ["洛阳宇通客车服务站"], ["宇通客车服务站"]]
    result = await import_file(sm, _csv(tmp_path / "places.csv", rows, "utf-8"))
    owner = "duplicate: same name as customer 1 华东医药包装有限公司 (owner: 王磊)"
    assert _issues(result) == [
        (2, "客户名称*", "上海华东医药包装有限责任公司", owner, "duplicate"),
        (3, "客户名称*", "華東醫藥包裝有限公司", owner, "duplicate"),
        # two cities: two service stations; without a city: the first of them
        (6, "客户名称*", "宇通客车服务站",
         "duplicate in this file: same name as row 4 (郑州宇通客车服务站)", "duplicate"),
    ]
    assert result.created["customers"] == 2
