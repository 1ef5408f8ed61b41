"""Import customers, contacts and assets from the spreadsheets companies arrive with.

What comes in: CSV (UTF-8, UTF-8 with BOM, UTF-16 "Unicode text", GBK/GB18030 as
Excel in China and old Access exports write it; comma, tab, semicolon or bar
separated) or XLSX (openpyxl, read-only streaming). One wide sheet (a customer per
row with its phones, a contact and an asset) or separate sheets/files of contacts
and assets keyed by the customer's name, our id, or a code from the same workbook.

Rules:
- columns are mapped to fields by their header (Chinese or English synonyms,
  decorations such as ``*``, ``(必填)`` or a trailing number ignored); a mapping
  given by the user overrides any of it (``{"header": "field"}``, field ``""``
  ignores the column);
- every row is judged on its own: a bad row is reported (sheet, row number as
  Excel shows it, column, value, message) and never stops the others; a row with
  any error writes nothing at all;
- the duplicate guard applies against the database and within the file itself
  (same normalised name or same phone number); a duplicate is reported with the
  existing record and its owner and skipped;
- good rows are written in batched transactions; if a batch fails, its rows are
  retried one transaction each so the failing row is isolated and reported;
- ``dry_run`` runs every check (against the database too) and writes nothing;
- every created customer, contact and asset gets an audit entry, action ``import``;
- parsing is pure (``auto_mapping``, ``parse_date``, ``parse_row``...); the
  database is read once up front into in-memory indexes so 50,000 rows need no
  query per row.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import importlib
import io
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table as SqlTable
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core.import_messages import CodedError, Msg
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
from crm_core.names import name_places, places_agree
from crm_core.permissions import SYSTEM, Actor, require
from numbering.normalize import typed_number

log = logging.getLogger("crm_core.importer")

KINDS = ("customers", "contacts", "assets")
NETWORK_KINDS = ("stations", "technicians")  # crm_core.network_import
BATCH_ROWS = 500
MAX_VIP_TIER = 5  # as crm_core.customers validates it

# --- fields and their header synonyms (pure) ------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """A field an import column can feed."""

    name: str
    label_zh: str
    label_en: str
    synonyms: tuple[str, ...]
    multi: bool = False  # several columns may feed it (电话1, 电话2 ...)


FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        FieldSpec("customer_code", "客户编号", "customer code",
                  ("客户编号", "客户编码", "客户代码", "编号", "编码", "代码", "customer code",
                   "customer no", "customer number", "cust no", "code", "account no")),
        FieldSpec("customer_id", "客户ID", "customer id", ("客户id", "customer id", "crm id")),
        FieldSpec("name", "客户名称", "name",
                  ("客户名称", "客户名", "客户", "公司名称", "公司", "单位名称", "单位", "企业名称",
                   "名称", "客户全称", "name", "company", "company name", "customer",
                   "customer name", "account", "account name")),
        FieldSpec("kind", "客户性质", "kind", ("客户性质", "性质", "kind", "customer kind")),
        FieldSpec("category", "类别", "category",
                  ("类别", "客户类别", "分类", "客户分类", "客户类型", "类型", "category", "type",
                   "customer type", "segment")),
        FieldSpec("industry", "行业", "industry", ("行业", "所属行业", "industry", "sector")),
        FieldSpec("source", "来源", "source",
                  ("来源", "客户来源", "渠道", "来源渠道", "source", "lead source", "channel")),
        FieldSpec("province", "省份", "province",
                  ("省份", "省", "所在省份", "省市", "省/直辖市", "province", "state")),
        FieldSpec("city", "城市", "city", ("城市", "市", "所在城市", "地市", "city")),
        FieldSpec("address", "地址", "address",
                  ("地址", "详细地址", "通讯地址", "公司地址", "联系地址", "address")),
        FieldSpec("vip_tier", "VIP等级", "VIP tier",
                  ("vip", "vip等级", "等级", "客户等级", "级别", "vip tier", "tier", "level")),
        FieldSpec("vip_value", "客户价值", "value",
                  ("价值", "客户价值", "年采购额", "采购额", "金额", "销售额", "value", "vip value",
                   "annual value", "revenue")),
        FieldSpec("status", "状态", "status", ("状态", "客户状态", "status")),
        FieldSpec("owner", "负责人", "owner",
                  ("负责人", "客户经理", "业务员", "销售", "销售员", "所属销售", "跟进人", "归属人",
                   "owner", "account manager", "sales", "salesman", "sales rep", "manager")),
        FieldSpec("phone", "电话", "phone",
                  ("电话", "电话号码", "公司电话", "座机", "固话", "固定电话", "总机", "办公电话",
                   "tel", "telephone", "phone", "phone number", "landline", "office phone"),
                  multi=True),
        FieldSpec("contact_name", "联系人", "contact",
                  ("联系人", "联系人姓名", "姓名", "contact", "contact name", "contact person")),
        FieldSpec("contact_role", "职务", "role",
                  ("职务", "职位", "联系人职务", "角色", "role", "title", "position", "job title")),
        FieldSpec("contact_phone", "手机", "mobile",
                  ("手机", "手机号", "手机号码", "联系电话", "联系人电话", "联系方式", "移动电话",
                   "mobile", "mobile phone", "cell", "cellphone", "contact phone"),
                  multi=True),
        FieldSpec("contact_email", "邮箱", "email",
                  ("邮箱", "电子邮件", "电子邮箱", "email", "e-mail", "mail")),
        FieldSpec("notes", "备注", "notes", ("备注", "说明", "notes", "note", "remark", "remarks",
                                            "comment", "comments")),
        FieldSpec("product_line", "产品线", "product line",
                  ("产品线", "产品", "产品类别", "设备类型", "product line", "product")),
        FieldSpec("model", "型号", "model", ("型号", "规格型号", "设备型号", "机型", "model")),
        FieldSpec("serial_number", "序列号", "serial number",
                  ("序列号", "机身号", "出厂编号", "设备编号", "机器编号", "sn", "s/n", "serial",
                   "serial number", "serial no")),
        FieldSpec("purchase_date", "购买日期", "purchase date",
                  ("购买日期", "购买时间", "购机日期", "销售日期", "购置日期", "purchase date",
                   "purchased", "date of purchase", "bought")),
        FieldSpec("warranty_end", "保修截止", "warranty end",
                  ("保修截止", "保修截止日期", "保修到期", "保修到期日", "保修期至", "质保到期",
                   "质保截止", "warranty end", "warranty until", "warranty expiry", "warranty")),
        FieldSpec("site", "安装地点", "site",
                  ("安装地点", "使用地点", "安装地址", "site", "location", "installed at")),
    )
}

_DECORATION = re.compile(r"[\s*:：_\-.]+")
_BRACKETED = re.compile(r"[(（【\[].*?[)）】\]]")
_TRAILING_NUMBER = re.compile(r"\d+$")


def norm_header(header: object) -> str:
    """A header reduced to what identifies it: ``客户名称(必填)*`` -> ``客户名称``."""
    text = str(header or "").replace("\ufeff", "").strip().casefold()
    text = _BRACKETED.sub("", text)
    text = _DECORATION.sub("", text)
    stripped = _TRAILING_NUMBER.sub("", text)
    return stripped or text


_SYNONYMS: dict[str, str] = {}
for _spec in FIELDS.values():
    for _syn in _spec.synonyms:
        _SYNONYMS.setdefault(norm_header(_syn), _spec.name)


@dataclass(frozen=True)
class ColumnMap:
    """Which field each column feeds (None: ignored) and notes on the decisions."""

    fields: tuple[str | None, ...]
    notes: tuple[Msg, ...] = ()

    def columns_of(self, name: str) -> list[int]:
        return [i for i, f in enumerate(self.fields) if f == name]

    def mapped(self) -> set[str]:
        return {f for f in self.fields if f}


def auto_mapping(
    headers: Sequence[object], overrides: Mapping[str, str | None] | None = None
) -> ColumnMap:
    """Map each header to a field by synonym, then apply ``overrides`` (header -> field;
    ``""``/None ignores the column). Raises ValueError on an unknown field name."""
    given: Mapping[str, str | None] = overrides or {}
    by_norm = {norm_header(k): v for k, v in given.items()}
    for column, wanted in given.items():
        if wanted and wanted not in FIELDS:
            raise ValueError(f"mapping {column!r} -> {wanted!r}: no such field "
                             f"(fields: {', '.join(FIELDS)})")
    fields: list[str | None] = []
    notes: list[Msg] = []
    taken: set[str] = set()
    for header in headers:
        raw = str(header or "").strip()
        key = norm_header(header)
        target: str | None
        if raw in given:
            target = given[raw] or None
        elif key in by_norm:
            target = by_norm[key] or None
        else:
            target = _SYNONYMS.get(key)
        if target and target in taken and not FIELDS[target].multi:
            notes.append(Msg("note_column_taken", {"column": raw, "field": target}))
            target = None
        if target:
            taken.add(target)
        elif raw:
            notes.append(Msg("note_column_unused", {"column": raw}))
        fields.append(target)
    return ColumnMap(tuple(fields), tuple(notes))


def load_mapping(path: str | Path | None, pairs: Iterable[str] = ()) -> dict[str, str | None]:
    """A mapping from a JSON file ``{"header": "field"}`` plus ``col=field`` pairs."""
    import json

    mapping: dict[str, str | None] = {}
    if path is not None:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
        if not isinstance(data, dict):
            raise ValueError("a mapping file is a JSON object {\"header\": \"field\"}")
        mapping.update({str(k): (str(v) if v else None) for k, v in data.items()})
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--map {pair!r}: expected column=field")
        col, _, target = pair.partition("=")
        mapping[col.strip()] = target.strip() or None
    return mapping


# --- cell values (pure) ---------------------------------------------------------------

_SPACES = re.compile(r"[\s\u3000\xa0]+")


def cell_text(value: object) -> str:
    """A cell as trimmed text: integral floats lose their ``.0`` (Excel stores phone
    numbers and codes as numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return _SPACES.sub(" ", str(value)).strip()


_EXCEL_EPOCH = date(1899, 12, 30)
_YMD = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?"
    r"(?:\.\d+)?)?$"
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DMY_OR_MDY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
DATE_HINT = "expected a date such as 2024-05-01, 2024/5/1 or 2024年5月1日"


def _serial_date(serial: float) -> date:
    if not 1 <= serial < 2958466:  # Excel's range: 1900-01-01 .. 9999-12-31
        raise CodedError("date_invalid")
    return _EXCEL_EPOCH + timedelta(days=int(serial))


def parse_date(value: object) -> date | None:
    """A date from anything a spreadsheet holds; None when empty; ValueError when not
    a date (or an ambiguous one like 5/1/2024)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) and 19000101 <= value <= 29991231:
            return parse_date(str(value))
        return _serial_date(float(value))
    text = cell_text(value)
    if not text:
        return None
    try:
        if m := _YMD.match(text) or _COMPACT.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DMY_OR_MDY.match(text):
            a, b, year = int(m[1]), int(m[2]), int(m[3])
            if a > 12 >= b:
                return date(year, b, a)
            if b > 12 >= a:
                return date(year, a, b)
            raise CodedError("date_ambiguous", text=text, year=year)
        if re.fullmatch(r"\d{1,7}(\.\d+)?", text):
            return _serial_date(float(text))  # a serial that went through CSV
    except ValueError as exc:
        if "ambiguous" in str(exc):
            raise
        raise CodedError("date_invalid") from None
    raise CodedError("date_invalid")


_PHONE_SPLIT = re.compile(r"[/,;，；、|\n]+")


def parse_phones(value: object, region: str = "CN") -> tuple[list[tuple[str, str]], list[str]]:
    """The numbers in one cell (``13800138000 / 021-6432 1000``): (e164, raw) pairs and
    the parts that are not valid phone numbers."""
    good: list[tuple[str, str]] = []
    bad: list[str] = []
    for part in _PHONE_SPLIT.split(cell_text(value)):
        raw = part.strip()
        if not raw:
            continue
        e164 = typed_number(raw, region)  # the rule of every number from outside
        if e164 is None or not e164.startswith("+"):
            bad.append(raw)
        else:
            good.append((e164, raw))
    return good, bad


_TIER_WORDS = {
    "普通": 0, "无": 0, "否": 0, "none": 0, "normal": 0, "no": 0,
    "银": 1, "银卡": 1, "silver": 1, "是": 1, "yes": 1, "y": 1, "vip": 1,
    "金": 2, "金卡": 2, "gold": 2,
    "白金": 3, "钻石": 3, "platinum": 3, "diamond": 3,
}


def parse_vip_tier(value: object) -> int:
    """VIP tier 0..5 from ``3``, ``VIP3``, ``3级``, ``金卡``, ``gold``..."""
    text = cell_text(value).casefold()
    if not text:
        return 0
    if text in _TIER_WORDS:
        return _TIER_WORDS[text]
    digits = re.findall(r"\d+", text)
    if len(digits) == 1 and 0 <= int(digits[0]) <= MAX_VIP_TIER:
        return int(digits[0])
    raise CodedError("vip_tier_invalid", max=MAX_VIP_TIER)


def parse_money(value: object) -> Decimal | None:
    """An amount such as ``12,000``, ``¥3.5万``, ``8000元``; None when empty."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        amount = Decimal(str(value))
    else:
        text = re.sub(r"[\s,，¥￥元]|RMB|CNY", "", cell_text(value), flags=re.I)
        if not text:
            return None
        factor = Decimal(1)
        if text.endswith("万"):
            factor, text = Decimal(10000), text[:-1]
        try:
            amount = Decimal(text) * factor
        except InvalidOperation:
            raise CodedError("amount_invalid") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise CodedError("amount_invalid")
    return amount.quantize(Decimal("0.01"))


_STATUS_WORDS = {
    "prospect": ("潜在", "潜在客户", "意向", "意向客户", "prospect", "lead"),
    "active": ("活跃", "正常", "合作中", "成交", "成交客户", "老客户", "active", "customer"),
    "dormant": ("休眠", "沉睡", "dormant", "inactive"),
    "lost": ("流失", "已流失", "lost", "churned"),
}
_STATUS = {w: status for status, words in _STATUS_WORDS.items() for w in words}
_KIND = {"企业": "company", "公司": "company", "单位": "company", "company": "company",
         "business": "company", "个人": "person", "person": "person", "individual": "person"}


def parse_choice(value: object, choices: Mapping[str, str], what: str) -> str | None:
    text = cell_text(value).casefold()
    if not text:
        return None
    if text in choices:
        return choices[text]
    raise CodedError(f"{what}_unknown")  # what: kind | status (the catalogue lists them)


# --- name keys and the in-memory indexes ------------------------------------------------

_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "集团公司", "集团", "公司",
             "co.,ltd.", "co.,ltd", "co.ltd", "company limited", "co.", "ltd.", "ltd",
             "limited", "inc.", "inc", "corp.", "corporation", "company")
_KEY_NOISE = re.compile(r"[\s\u3000\xa0·.,，。()（）\-—_'\"“”]+")


def _fallback_name_key(name: str) -> str:
    text = name.casefold().strip()
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            compact = text.replace(" ", "")
            if compact.endswith(suffix.replace(" ", "")) and len(compact) > len(suffix):
                text = compact[: -len(suffix.replace(" ", ""))]
                changed = True
    return _KEY_NOISE.sub("", text)


def name_key_function() -> Callable[[str], str]:
    """``crm_core.names.name_key`` (the duplicate guard's rule) or a local fallback."""
    try:
        names = importlib.import_module("crm_core.names")
    except ImportError:
        log.warning("crm_core.names missing: import uses its own name key")
        return _fallback_name_key
    func: Callable[[str], str] = names.name_key
    return func


@dataclass(frozen=True)
class KnownCustomer:
    id: int
    name: str
    owner: str | None
    row: int | None = None  # the row of this file that creates it (None: in the database)


@dataclass
class ImportContext:
    """What the checks need from the database, read once, kept current during the run."""

    users: dict[str, int | None] = field(default_factory=dict)  # casefolded name -> id
    user_names: dict[int, str] = field(default_factory=dict)
    by_key: dict[str, list[KnownCustomer]] = field(default_factory=dict)
    by_phone: dict[str, KnownCustomer] = field(default_factory=dict)
    by_id: dict[int, KnownCustomer] = field(default_factory=dict)
    by_code: dict[str, KnownCustomer] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    serials: dict[str, tuple[KnownCustomer | None, int | None]] = field(default_factory=dict)
    contacts: set[tuple[int, str]] = field(default_factory=set)
    next_fake_id: int = -1

    def owner_id(self, value: str) -> int | None:
        """The user id for a username or display name; KeyError when unknown or ambiguous."""
        key = value.casefold()
        if key not in self.users:
            raise KeyError(value)
        uid = self.users[key]
        if uid is None:
            raise KeyError(value)
        return uid

    def add_customer(self, known: KnownCustomer, key: str, phones: Iterable[str]) -> None:
        self.by_key.setdefault(key, []).append(known)
        self.by_id[known.id] = known
        for phone in phones:
            self.by_phone.setdefault(phone, known)

    def named(self, key: str, name: str) -> list[KnownCustomer]:
        """The known customers ``name`` (whose key is ``key``) names: same key and places
        that agree (``crm_core.names.places_agree``: ``郑州X`` is not ``洛阳X``)."""
        same_key = self.by_key.get(key, []) if key else []
        if not same_key:
            return []
        places = name_places(name)
        return [k for k in same_key if places_agree(places, name_places(k.name))]

    def fake_id(self) -> int:
        self.next_fake_id -= 1
        return self.next_fake_id


async def load_context(session: AsyncSession, name_key: Callable[[str], str]) -> ImportContext:
    """Read users, customers, phones, product lines and serials into memory."""
    ctx = ImportContext()
    for uid, username, display in await session.execute(
        select(User.id, User.username, User.display_name)
    ):
        ctx.user_names[uid] = display or username
        ctx.users[username.casefold()] = uid
        dkey = (display or "").casefold()
        if dkey and dkey != username.casefold():
            # two users with one display name: that name cannot choose between them
            ctx.users[dkey] = None if dkey in ctx.users and ctx.users[dkey] != uid else uid
    rows = await session.execute(
        select(Customer.id, Customer.name, Customer.name_key, Customer.owner_id)
        .where(Customer.merged_into_id.is_(None))
    )
    for cid, name, key, owner_id in rows:
        known = KnownCustomer(cid, name, ctx.user_names.get(owner_id) if owner_id else None)
        ctx.add_customer(known, key or name_key(name), ())
    for cid, number in await session.execute(
        select(PhoneNumber.customer_id, PhoneNumber.number_e164)
    ):
        if cid in ctx.by_id:
            ctx.by_phone.setdefault(number, ctx.by_id[cid])
    for pid, code, name, name_en in await session.execute(
        select(ProductLine.id, ProductLine.code, ProductLine.name, ProductLine.name_en)
    ):
        for label in (code, name, name_en):
            if label:
                ctx.products.setdefault(label.casefold(), pid)
    for cid, serial in await session.execute(select(Asset.customer_id, Asset.serial_number)):
        ctx.serials[serial.casefold()] = (ctx.by_id.get(cid), None)
    for cid, cname in await session.execute(select(Contact.customer_id, Contact.name)):
        ctx.contacts.add((cid, cname.casefold()))
    return ctx


# --- one row (pure, given the context) ---------------------------------------------------


@dataclass(frozen=True)
class RowIssue:
    """One line of the error report."""

    sheet: str
    row: int
    column: str
    value: str
    message: str  # English (the CLI, the report's English column)
    # error | duplicate | notice (the row was imported, but something was done that a
    # person should check: an order's unknown supplier created)
    kind: str = "error"
    code: str = ""  # crm_core.import_messages.CATALOG (the page and report translate it)
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column,
                "value": self.value, "message": self.message, "kind": self.kind,
                "code": self.code, "params": dict(self.params)}


REPORT_COLUMNS = [("sheet", "sheet"), ("row", "row"), ("column", "column"),
                  ("value", "value"), ("message", "message"), ("kind", "kind")]


@dataclass
class RowDraft:
    """A validated row, ready to write."""

    row: int
    customer: dict[str, Any] = field(default_factory=dict)  # Customer columns (new customer)
    customer_id: int | None = None  # existing customer (contacts/assets tables)
    customer_key: str = ""
    phones: list[tuple[str, str]] = field(default_factory=list)  # customer's own
    contact: dict[str, Any] | None = None
    contact_phones: list[tuple[str, str]] = field(default_factory=list)
    asset: dict[str, Any] | None = None
    code: str = ""


Cells = dict[str, list[tuple[str, object]]]  # field -> [(column header, raw value)]


def row_cells(headers: Sequence[str], cmap: ColumnMap, values: Sequence[object]) -> Cells:
    cells: Cells = {}
    for i, target in enumerate(cmap.fields):
        if target is None:
            continue
        value = values[i] if i < len(values) else None
        cells.setdefault(target, []).append((headers[i], value))
    return cells


class _RowErrors:
    def __init__(self, sheet: str, row: int) -> None:
        self.sheet, self.row, self.items = sheet, row, list[RowIssue]()

    def add(self, column: str, value: object, message: Msg, kind: str = "error") -> None:
        self.items.append(RowIssue(self.sheet, self.row, column, cell_text(value),
                                   message.text, kind, message.code, dict(message.params)))


def _first(cells: Cells, name: str) -> tuple[str, object]:
    found = cells.get(name)
    return found[0] if found else (FIELDS[name].label_zh, None)


def _text_field(cells: Cells, name: str) -> str | None:
    return cell_text(_first(cells, name)[1]) or None


def _parse_field(
    cells: Cells, name: str, parser: Callable[[object], Any], errors: _RowErrors
) -> Any:
    column, value = _first(cells, name)
    try:
        return parser(value)
    except CodedError as exc:
        errors.add(column, value, exc.msg)
        return None


def _phones_of(cells: Cells, name: str, region: str, errors: _RowErrors) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for column, value in cells.get(name, []):
        good, bad = parse_phones(value, region)
        for raw in bad:
            errors.add(column, raw, Msg("phone_invalid"))
        out.extend(p for p in good if p[0] not in {q[0] for q in out})
    return out


def _customer_fields(
    cells: Cells, ctx: ImportContext, errors: _RowErrors, default_owner: int | None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("category", "industry", "source", "province", "city", "address"):
        values[name] = _text_field(cells, name)
    kind = _parse_field(cells, "kind", lambda v: parse_choice(v, _KIND, "kind"), errors)
    values["kind"] = kind or "company"
    status = _parse_field(cells, "status", lambda v: parse_choice(v, _STATUS, "status"), errors)
    if status:
        values["status"] = status
    values["vip_tier"] = _parse_field(cells, "vip_tier", parse_vip_tier, errors) or 0
    values["vip_value"] = _parse_field(cells, "vip_value", parse_money, errors)
    column, owner = _first(cells, "owner")
    owner_text = cell_text(owner)
    values["owner_id"] = default_owner
    if owner_text:
        try:
            values["owner_id"] = ctx.owner_id(owner_text)
        except KeyError:
            errors.add(column, owner, Msg("owner_unknown"))
    return values


def _contact_fields(
    cells: Cells, region: str, errors: _RowErrors
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    name = _text_field(cells, "contact_name")
    phones = _phones_of(cells, "contact_phone", region, errors)
    if name is None:
        return None, phones
    email = _text_field(cells, "contact_email")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        errors.add(_first(cells, "contact_email")[0], email, Msg("email_invalid"))
    contact = {"name": name, "role": _text_field(cells, "contact_role"), "email": email}
    return contact, phones


def _asset_fields(
    cells: Cells, ctx: ImportContext, errors: _RowErrors
) -> dict[str, Any] | None:
    serial = _text_field(cells, "serial_number")
    purchase = _parse_field(cells, "purchase_date", parse_date, errors)
    warranty = _parse_field(cells, "warranty_end", parse_date, errors)
    if serial is None:
        if any(_text_field(cells, n) for n in ("model", "product_line", "purchase_date",
                                                  "warranty_end")):
            errors.add(_first(cells, "serial_number")[0], "", Msg("asset_needs_serial"))
        return None
    if purchase and warranty and warranty < purchase:
        errors.add(_first(cells, "warranty_end")[0], warranty.isoformat(),
                   Msg("warranty_before_purchase"))
    product_id = None
    column, product = _first(cells, "product_line")
    if cell_text(product):
        product_id = ctx.products.get(cell_text(product).casefold())
        if product_id is None:
            errors.add(column, product, Msg("product_unknown"))
    return {"serial_number": serial, "model": _text_field(cells, "model"),
            "product_line_id": product_id, "purchase_date": purchase,
            "warranty_end": warranty, "site": _text_field(cells, "site")}


def _existing_customer(
    cells: Cells, ctx: ImportContext, name_key: Callable[[str], str], errors: _RowErrors
) -> KnownCustomer | None:
    """The customer a contacts/assets row belongs to: by code, id or name."""
    column, code = _first(cells, "customer_code")
    if cell_text(code):
        known = ctx.by_code.get(cell_text(code).casefold())
        if known is None:
            errors.add(column, code, Msg("customer_code_unknown"))
        return known
    column, cid = _first(cells, "customer_id")
    if cell_text(cid):
        try:
            found = ctx.by_id.get(int(cell_text(cid)))
        except ValueError:
            found = None
        if found is None:
            errors.add(column, cid, Msg("customer_id_unknown"))
        return found
    column, name = _first(cells, "name")
    if not cell_text(name):
        errors.add(column, "", Msg("customer_missing"))
        return None
    matches = ctx.named(name_key(cell_text(name)), cell_text(name))
    if not matches:
        errors.add(column, name, Msg("customer_name_unknown"))
        return None
    if len(matches) > 1:
        errors.add(column, name, Msg("customer_name_ambiguous"))
        return None
    return matches[0]


def _check_asset_duplicate(
    draft: RowDraft, ctx: ImportContext, errors: _RowErrors, seen: dict[str, int]
) -> None:
    if draft.asset is None:
        return
    serial = str(draft.asset["serial_number"])
    column = FIELDS["serial_number"].label_zh
    if serial.casefold() in seen:
        errors.add(column, serial, Msg("duplicate_serial_in_file",
                                       {"row": seen[serial.casefold()]}), "duplicate")
    elif serial.casefold() in ctx.serials:
        owner, _ = ctx.serials[serial.casefold()]
        msg = (Msg("duplicate_serial_of", {"id": owner.id, "name": owner.name})
               if owner and owner.id > 0 else Msg("duplicate_serial"))
        errors.add(column, serial, msg, "duplicate")


def _duplicate_message(known: KnownCustomer, reason: str) -> Msg:
    """``reason``: ``name`` or ``phone``; owner None reads as the shared pool."""
    if known.row is not None:
        return Msg(f"duplicate_{reason}_in_file", {"row": known.row, "name": known.name})
    return Msg(f"duplicate_{reason}", {"id": known.id, "name": known.name,
                                       "owner": known.owner})


def parse_customer_row(
    sheet: str, row: int, cells: Cells, ctx: ImportContext, *, region: str,
    name_key: Callable[[str], str], default_owner: int | None, seen_serials: dict[str, int],
) -> tuple[RowDraft | None, list[RowIssue]]:
    """A row of a customers (wide) table: a customer, its phones, maybe a contact and
    an asset. Returns the draft, or None and the issues (errors first, then duplicates)."""
    errors = _RowErrors(sheet, row)
    column, name_value = _first(cells, "name")
    name = cell_text(name_value)
    if not name:
        errors.add(column, "", Msg("name_missing"))
    values = _customer_fields(cells, ctx, errors, default_owner)
    phones = _phones_of(cells, "phone", region, errors)
    contact, contact_phones = _contact_fields(cells, region, errors)
    asset = _asset_fields(cells, ctx, errors)
    if errors.items:
        return None, errors.items
    draft = RowDraft(row=row, customer={"name": name, **values}, customer_key=name_key(name),
                     phones=phones, contact=contact, contact_phones=contact_phones, asset=asset,
                     code=cell_text(_first(cells, "customer_code")[1]))
    # an empty key (a name of only punctuation) never matches anything
    key_matches = ctx.named(draft.customer_key, name)
    if key_matches:
        errors.add(column, name, _duplicate_message(key_matches[0], "name"), "duplicate")
    else:
        for e164, raw in phones + contact_phones:
            if e164 in ctx.by_phone:
                col = _phone_column(cells, raw)
                errors.add(col, raw, _duplicate_message(ctx.by_phone[e164], "phone"),
                           "duplicate")
                break
    _check_asset_duplicate(draft, ctx, errors, seen_serials)
    if errors.items:
        return None, errors.items
    return draft, []


def _phone_column(cells: Cells, raw: str) -> str:
    for name in ("phone", "contact_phone"):
        for column, value in cells.get(name, []):
            if raw in cell_text(value):
                return column
    return FIELDS["phone"].label_zh


def parse_child_row(
    kind: str, sheet: str, row: int, cells: Cells, ctx: ImportContext, *, region: str,
    name_key: Callable[[str], str], seen_serials: dict[str, int],
) -> tuple[RowDraft | None, list[RowIssue]]:
    """A row of a contacts or assets table, attached to an existing customer."""
    errors = _RowErrors(sheet, row)
    known = _existing_customer(cells, ctx, name_key, errors)
    draft = RowDraft(row=row, customer_id=known.id if known else None)
    if kind == "contacts":
        contact, phones = _contact_fields(cells, region, errors)
        phones += [p for p in _phones_of(cells, "phone", region, errors) if p not in phones]
        if contact is None:
            errors.add(FIELDS["contact_name"].label_zh, "", Msg("contact_name_missing"))
        draft.contact, draft.contact_phones = contact, phones
    else:
        draft.asset = _asset_fields(cells, ctx, errors)
        if draft.asset is None and not errors.items:
            errors.add(FIELDS["serial_number"].label_zh, "", Msg("serial_missing"))
    if errors.items or known is None:
        return None, errors.items
    if draft.contact is not None and (known.id, draft.contact["name"].casefold()) in ctx.contacts:
        errors.add(_first(cells, "contact_name")[0], draft.contact["name"],
                   Msg("duplicate_contact", {"name": known.name}), "duplicate")
    for e164, raw in draft.contact_phones:
        other = ctx.by_phone.get(e164)
        if other is not None and other.id != known.id:
            errors.add(_phone_column(cells, raw), raw,
                       _duplicate_message(other, "phone"), "duplicate")
    _check_asset_duplicate(draft, ctx, errors, seen_serials)
    if errors.items:
        return None, errors.items
    # a number the customer already has is not stored twice
    draft.contact_phones = [p for p in draft.contact_phones if p[0] not in ctx.by_phone]
    return draft, []


# --- reading files (blocking: run in a thread) -----------------------------------------


@dataclass
class Table:
    """One sheet or CSV file, fully read: its header row and the data rows."""

    name: str
    kind: str
    headers: list[str]
    rows: list[tuple[int, list[object]]]  # (row number as Excel shows it, cells)
    notes: list[Msg] = field(default_factory=list)


def detect_encoding(data: bytes) -> str:
    """The encoding of a CSV file's bytes: BOMs first, then strict UTF-8, then GB18030
    (a superset of GBK/GB2312, what Excel in China and old Access exports write)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8"  # decoded with replacement characters; rows will show it


def _find_header(rows: list[list[object]]) -> int:
    """The header row: the first of the first ten rows naming two known fields (a title
    line such as 客户名单2024 above the headers is skipped)."""
    for i, cells in enumerate(rows[:10]):
        if sum(1 for c in cells if norm_header(c) in _SYNONYMS) >= 2:
            return i
    for i, cells in enumerate(rows):
        if any(cell_text(c) for c in cells):
            return i
    return 0


def _table(name: str, kind: str, raw_rows: list[list[object]]) -> Table | None:
    header_at = _find_header(raw_rows)
    if header_at >= len(raw_rows):
        return None
    headers = [cell_text(c) for c in raw_rows[header_at]]
    rows = [(header_at + 2 + i, cells) for i, cells in enumerate(raw_rows[header_at + 1:])
            if any(cell_text(c) for c in cells)]
    if not any(headers):
        return None
    return Table(name, kind, headers, rows)


def guess_delimiter(sample: str) -> str:
    """The separator found on most of the first lines (comma on a tie): a title line
    above the headers has none, so it must not decide."""
    lines = [ln for ln in sample.splitlines()[:30] if ln.strip()]
    best, best_lines = ",", 0
    for candidate in (",", "\t", ";", "|"):
        n = sum(1 for ln in lines if candidate in ln)
        if n > best_lines:
            best, best_lines = candidate, n
    return best


@dataclass(frozen=True)
class RawSheet:
    """One sheet's cells as read: every XLSX sheet, or the one table of a CSV/TXT file
    (``encoding``: the text's, as detected; None for a workbook)."""

    name: str
    rows: list[list[object]]
    encoding: str | None = None


def raw_sheets(path: str | Path, only: str | None = None) -> list[RawSheet]:
    """The raw cells of a CSV/TXT or XLSX file (``only``: that sheet of a workbook;
    ValueError naming the sheets when it has none of that name)."""
    p = Path(path)
    suffix = p.suffix.casefold()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(p, read_only=True, data_only=True)
        try:
            if only is not None and only not in wb.sheetnames:
                raise ValueError(f"no sheet {only!r} (sheets: {', '.join(wb.sheetnames)})")
            return [RawSheet(name, [list(r) for r in wb[name].iter_rows(values_only=True)])
                    for name in ([only] if only is not None else list(wb.sheetnames))]
        finally:
            wb.close()
    if suffix == ".xls":
        raise CodedError("xls_unsupported")
    data = p.read_bytes()
    encoding = detect_encoding(data)
    text = data.decode(encoding, errors="replace")
    delimiter = guess_delimiter(text[:20_000])
    rows: list[list[object]] = [list(r) for r in csv.reader(io.StringIO(text),
                                                            delimiter=delimiter)]
    return [RawSheet(p.name, rows, encoding)]


def read_csv(path: Path, kind: str) -> Table | None:
    data = path.read_bytes()
    encoding = detect_encoding(data)
    text = data.decode(encoding, errors="replace")
    delimiter = guess_delimiter(text[:20_000])
    rows: list[list[object]] = [
        list(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter)
    ]
    table = _table(path.name, kind, rows)
    if table is not None:
        table.notes.append(Msg("note_encoding", {"file": path.name, "encoding": encoding}))
    return table


_SHEET_KINDS = (
    ("contacts", ("联系人", "contact")),
    ("assets", ("资产", "设备", "产品", "机器", "asset", "equipment", "device", "serial")),
    ("customers", ("客户", "customer", "account", "client")),
)


def sheet_kind(name: str) -> str | None:
    """The kind a sheet's name says it holds (None: the name says nothing)."""
    low = name.casefold()
    for kind, words in _SHEET_KINDS:
        if any(w in low for w in words):
            return kind
    return None


def read_xlsx(path: Path, kind: str, sheet: str | None) -> list[Table]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise ValueError(f"no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})")
        names = [sheet] if sheet is not None else list(wb.sheetnames)
        tables: list[Table] = []
        skipped: list[str] = []
        default_used = False
        for name in names:
            guessed = kind if sheet is not None else sheet_kind(name)
            raw = [list(r) for r in wb[name].iter_rows(values_only=True)]
            table = _table(name, guessed or kind, raw)
            if table is None:
                continue
            if guessed is None:
                if default_used:
                    skipped.append(name)
                    continue
                default_used = True
            tables.append(table)
        if tables and skipped:
            tables[0].notes.append(Msg("note_sheets_skipped", {"sheets": ", ".join(skipped)}))
        return tables
    finally:
        wb.close()


def read_tables(path: str | Path, kind: str = "customers", sheet: str | None = None) -> list[Table]:
    """The tables of a CSV/TXT or XLSX file, customers first. ValueError: unreadable."""
    p = Path(path)
    suffix = p.suffix.casefold()
    if suffix in (".xlsx", ".xlsm"):
        tables = read_xlsx(p, kind, sheet)
    elif suffix == ".xls":
        raise CodedError("xls_unsupported")
    else:
        table = read_csv(p, kind)
        tables = [table] if table else []
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(tables, key=lambda t: order[t.kind])


# --- the run ---------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did (or, dry run, would do)."""

    dry_run: bool
    rows: int = 0
    created: dict[str, int] = field(
        default_factory=lambda: {"customers": 0, "contacts": 0, "phones": 0, "assets": 0}
    )
    duplicates: int = 0
    errors: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # English (the CLI)
    note_items: list[dict[str, Any]] = field(default_factory=list)  # {code, params, message}
    duplicate_guard: str = "crm_core.duplicates"

    def note(self, msg: Msg, prefix: str = "") -> None:
        item = msg.as_dict(prefix)
        self.notes.append(item["message"])
        self.note_items.append(item)

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "rows": self.rows, "created": dict(self.created),
                "duplicates": self.duplicates, "errors": self.errors,
                "issues": [i.as_dict() for i in self.issues], "notes": list(self.notes),
                "note_items": [dict(n) for n in self.note_items],
                "duplicate_guard": self.duplicate_guard}


ProgressFn = Callable[[int, int], None]  # (rows done, rows total)


@dataclass
class _Run:
    sessionmaker: async_sessionmaker[AsyncSession]
    actor: Actor
    ctx: ImportContext
    result: ImportResult
    region: str
    name_key: Callable[[str], str]
    default_owner: int | None
    dry_run: bool
    guard: Callable[[AsyncSession, RowDraft], Any] | None
    progress: ProgressFn | None = None
    done: int = 0
    total: int = 0
    seen_serials: dict[str, int] = field(default_factory=dict)

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


async def import_file(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: str | Path,
    *,
    kind: str = "customers",
    sheet: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    dry_run: bool = False,
    default_owner: str | None = None,
    actor: Actor = SYSTEM,
    region: str = "CN",
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import ``path`` (see the module rules). Raises ValueError for a file or mapping
    that cannot be used at all (unreadable, no name column, unknown owner given);
    row problems never raise: they are in ``result.issues``. Kinds ``stations`` and
    ``technicians`` import the service network (``crm_core.network_import``) with the
    same report, progress and result."""
    if kind in NETWORK_KINDS:
        from crm_core import network_import

        return await network_import.import_file(sessionmaker, path, kind=kind, sheet=sheet,
                                                dry_run=dry_run, actor=actor,
                                                progress=progress)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS + NETWORK_KINDS}")
    tables = await asyncio.to_thread(read_tables, path, kind, sheet)
    return await import_tables(
        sessionmaker, tables, mapping=mapping, dry_run=dry_run, default_owner=default_owner,
        actor=actor, region=region, progress=progress,
    )


async def import_tables(
    sessionmaker: async_sessionmaker[AsyncSession],
    tables: Sequence[Table],
    *,
    mapping: Mapping[str, str | None] | None = None,
    dry_run: bool = False,
    default_owner: str | None = None,
    actor: Actor = SYSTEM,
    region: str = "CN",
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import tables already read (``read_tables``); see ``import_file``."""
    for module in {t.kind for t in tables}:
        require(actor, module, "create")
    maps = [auto_mapping(t.headers, mapping) for t in tables]
    for table, cmap in zip(tables, maps, strict=True):
        _require_columns(table, cmap)
    name_key = name_key_function()
    async with sessionmaker() as session:
        ctx = await load_context(session, name_key)
    owner_id = None
    if default_owner:
        try:
            owner_id = ctx.owner_id(default_owner)
        except KeyError:
            raise ValueError(f"--owner {default_owner!r}: no such user") from None
    result = ImportResult(dry_run=dry_run)
    guard = _duplicate_guard(result)
    run = _Run(sessionmaker, actor, ctx, result, region, name_key, owner_id, dry_run, guard,
               progress, total=sum(len(t.rows) for t in tables))
    for table, cmap in zip(tables, maps, strict=True):
        for note in table.notes:
            result.note(note)
        for note in cmap.notes:
            result.note(Msg(note.code, {**note.params, "sheet": table.name}),
                        prefix=f"{table.name}: ")
        await _import_table(run, table, cmap)
    result.issues.sort(key=lambda i: (tables_order(tables, i.sheet), i.row))
    return result


def tables_order(tables: Sequence[Table], name: str) -> int:
    return next((i for i, t in enumerate(tables) if t.name == name), len(tables))


def _require_columns(table: Table, cmap: ColumnMap) -> None:
    have = cmap.mapped()
    if table.kind == "customers" and "name" not in have:
        raise CodedError("no_name_column", sheet=table.name, headers=", ".join(table.headers))
    if table.kind != "customers" and not have & {"name", "customer_id", "customer_code"}:
        raise CodedError("no_customer_column", sheet=table.name)
    if table.kind == "contacts" and "contact_name" not in have:
        raise CodedError("no_contact_column", sheet=table.name)
    if table.kind == "assets" and "serial_number" not in have:
        raise CodedError("no_serial_column", sheet=table.name)


def _duplicate_guard(result: ImportResult) -> Callable[[AsyncSession, RowDraft], Any] | None:
    """The duplicates helper's database check, run inside each write (it catches a
    customer created by someone else since the context was read)."""
    try:
        duplicates = importlib.import_module("crm_core.duplicates")
    except ImportError:
        result.duplicate_guard = "importer (crm_core.duplicates missing)"
        result.note(Msg("note_no_duplicates_module"))
        return None
    check = getattr(duplicates, "check_new_customer", None)
    if check is None:
        result.duplicate_guard = "importer (no check_new_customer)"
        return None

    async def guard(session: AsyncSession, draft: RowDraft) -> None:
        numbers = [e164 for e164, _ in draft.phones + draft.contact_phones]
        await check(session, name=draft.customer["name"], numbers=numbers)

    return guard


async def _import_table(run: _Run, table: Table, cmap: ColumnMap) -> None:
    batch: list[RowDraft] = []
    for row, values in table.rows:
        run.result.rows += 1
        draft, issues = _judge(run, table, cmap, row, values)
        if draft is None:
            _count(run.result, issues)
        else:
            _remember(run, table.kind, draft)
            batch.append(draft)
            if len(batch) >= BATCH_ROWS:
                await _flush(run, table, batch)
                batch = []
        run.tick()
    if batch:
        await _flush(run, table, batch)


def _judge(
    run: _Run, table: Table, cmap: ColumnMap, row: int, values: list[object]
) -> tuple[RowDraft | None, list[RowIssue]]:
    try:
        cells = row_cells(table.headers, cmap, values)
        if table.kind == "customers":
            return parse_customer_row(
                table.name, row, cells, run.ctx, region=run.region, name_key=run.name_key,
                default_owner=run.default_owner, seen_serials=run.seen_serials,
            )
        return parse_child_row(
            table.kind, table.name, row, cells, run.ctx, region=run.region,
            name_key=run.name_key, seen_serials=run.seen_serials,
        )
    except Exception as exc:  # a row must never stop the import
        log.exception("row %s of %s", row, table.name)
        msg = Msg("unexpected", {"error": str(exc)})
        return None, [RowIssue(table.name, row, "", "", msg.text, "error", msg.code,
                               msg.params)]


def _count(result: ImportResult, issues: list[RowIssue]) -> None:
    result.issues.extend(issues)
    if any(i.kind == "error" for i in issues):
        result.errors += 1
    else:
        result.duplicates += 1


def _remember(run: _Run, kind: str, draft: RowDraft) -> None:
    """Make the accepted row visible to the checks of the rows after it."""
    ctx = run.ctx
    if kind == "customers":
        known = KnownCustomer(ctx.fake_id(), draft.customer["name"], None, row=draft.row)
        ctx.add_customer(known, draft.customer_key,
                         [p for p, _ in draft.phones + draft.contact_phones])
        if draft.code:
            ctx.by_code[draft.code.casefold()] = known
        draft.customer_id = known.id
    elif draft.customer_id is not None:
        owner = ctx.by_id.get(draft.customer_id)
        for e164, _ in draft.contact_phones:
            if owner is not None:
                ctx.by_phone.setdefault(e164, owner)
        if draft.contact is not None:
            ctx.contacts.add((draft.customer_id, draft.contact["name"].casefold()))
    if draft.asset is not None:
        run.seen_serials[str(draft.asset["serial_number"]).casefold()] = draft.row


async def _flush(run: _Run, table: Table, batch: list[RowDraft]) -> None:
    if run.dry_run:
        _tally(run.result, batch)
        return
    try:
        async with run.sessionmaker.begin() as session:
            await _write(run, session, table.kind, batch)
        _tally(run.result, batch)
    except Exception as exc:
        if len(batch) == 1:
            _row_failed(run, table, batch[0], exc)
            return
        if not isinstance(exc, _BatchNeedsRowByRow):
            log.warning("batch of %s rows failed (%s): retrying row by row", len(batch), exc)
        # isolate the failing row(s): one transaction per row
        for draft in batch:
            try:
                async with run.sessionmaker.begin() as session:
                    await _write(run, session, table.kind, [draft])
                _tally(run.result, [draft])
            except Exception as exc:
                _row_failed(run, table, draft, exc)


def _row_failed(run: _Run, table: Table, draft: RowDraft, exc: Exception) -> None:
    from crm_core.errors import DuplicateCustomer

    if isinstance(exc, DuplicateCustomer):
        msg = Msg("duplicate_existing", {"reason": exc.reason, "id": exc.existing_id,
                                         "name": exc.existing_name, "owner": exc.owner_name})
        issue = RowIssue(table.name, draft.row, FIELDS["name"].label_zh,
                         str(draft.customer.get("name", "")), msg.text, "duplicate",
                         msg.code, msg.params)
    else:
        log.warning("row %s of %s not written: %s", draft.row, table.name, exc)
        msg = Msg("not_written", {"error": str(exc).splitlines()[0] if str(exc) else ""})
        issue = RowIssue(table.name, draft.row, "", "", msg.text, "error", msg.code,
                         msg.params)
    _count(run.result, [issue])


def _tally(result: ImportResult, batch: list[RowDraft]) -> None:
    for draft in batch:
        if draft.customer:
            result.created["customers"] += 1
        if draft.contact is not None:
            result.created["contacts"] += 1
        result.created["phones"] += len(draft.phones) + len(draft.contact_phones)
        if draft.asset is not None:
            result.created["assets"] += 1


def _core(model: Any) -> SqlTable:
    """The Core table of a model: plain INSERTs skip the ORM's per-row bookkeeping."""
    return cast(SqlTable, model.__table__)


class _BatchNeedsRowByRow(Exception):
    """The batch touches an existing customer: retry it row by row under the guard."""


async def _write(run: _Run, session: AsyncSession, kind: str, batch: list[RowDraft]) -> None:
    """Write one batch in the caller's transaction (all or nothing). Set-based: one
    INSERT per table per batch; the audit entries (the rows ``crm_core.audit.audit``
    adds, action ``import``) go in with one INSERT too."""
    now = datetime.now(UTC)
    uid = run.actor.user_id
    audits: list[dict[str, Any]] = []

    def audited(entity: str, entity_id: int, after: dict[str, Any]) -> None:
        audits.append({"at": now, "user_id": uid, "action": "import", "entity": entity,
                       "entity_id": str(entity_id), "before": None,
                       "after": _jsonable({**after, "id": entity_id})})

    if kind == "customers":
        await _guard_batch(run, session, batch)
        values = [_customer_values(d, now) for d in batch]
        ids = await _insert_ids(session, _core(Customer), values, ("name_key",))
        history = [
            {"customer_id": cid, "from_user_id": None, "to_user_id": vals["owner_id"],
             "at": now, "by_id": uid, "reason": "import"}
            for cid, vals in zip(ids, values, strict=True) if vals["owner_id"] is not None
        ]
        if history:
            await session.execute(insert(_core(OwnershipChange)), history)
        for draft, cid, vals in zip(batch, ids, values, strict=True):
            _retarget(run.ctx, draft, cid)
            audited("customer", cid, {**vals, "phones": [p for p, _ in draft.phones]})
    with_contact = [d for d in batch if d.contact is not None]
    contact_ids: dict[int, int] = {}
    if with_contact:
        rows = [{"name": d.contact["name"], "role": d.contact.get("role"),
                 "email": d.contact.get("email"), "customer_id": d.customer_id}
                for d in with_contact if d.contact is not None]
        ids = await _insert_ids(session, _core(Contact), rows, ("customer_id", "name"))
        for draft, contact_id, vals in zip(with_contact, ids, rows, strict=True):
            contact_ids[draft.row] = contact_id
            audited("contact", contact_id, vals)
    phones = [
        {"customer_id": d.customer_id, "contact_id": cid, "number_e164": e164, "raw": raw,
         "kind": phone_kind(e164)}
        for d in batch
        for plist, cid in ((d.phones, None), (d.contact_phones, contact_ids.get(d.row)))
        for e164, raw in plist
    ]
    if phones:
        await session.execute(insert(_core(PhoneNumber)), phones)
    with_asset = [d for d in batch if d.asset is not None]
    if with_asset:
        rows = [{**(d.asset or {}), "customer_id": d.customer_id} for d in with_asset]
        ids = await _insert_ids(session, _core(Asset), rows, ("serial_number",))
        for asset_id, vals in zip(ids, rows, strict=True):
            audited("asset", asset_id, vals)
    if audits:
        await session.execute(insert(_core(AuditEntry)), audits)


async def _guard_batch(run: _Run, session: AsyncSession, batch: list[RowDraft]) -> None:
    """The database side of the duplicate guard, inside the write's transaction: it sees
    customers created by others since the run started. One query per batch; only when
    it finds something do the rows go one by one through ``check_new_customer``."""
    if run.guard is None:
        return
    if len(batch) == 1:
        await run.guard(session, batch[0])
        return
    keys = {d.customer_key for d in batch if d.customer_key}
    numbers = {e164 for d in batch for e164, _ in d.phones + d.contact_phones}
    live = Customer.merged_into_id.is_(None)
    hit = await session.scalar(
        select(Customer.id).where(live, Customer.name_key.in_(keys)).limit(1)
    ) if keys else None
    if hit is None and numbers:
        hit = await session.scalar(
            select(PhoneNumber.id).join(Customer, PhoneNumber.customer_id == Customer.id)
            .where(live, PhoneNumber.number_e164.in_(numbers)).limit(1)
        )
    if hit is not None:
        raise _BatchNeedsRowByRow()


async def _insert_ids(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]], key: tuple[str, ...]
) -> list[int]:
    """INSERT ``rows`` and return their new ids in row order. The ids come back matched
    by ``key`` columns when those are unique in the batch (much faster on SQLite than
    asking the database to keep the parameter order)."""
    keys = [tuple(r[c] for c in key) for r in rows]
    if len(set(keys)) == len(keys):
        result = await session.execute(
            insert(table).returning(table.c.id, *(table.c[c] for c in key)), rows
        )
        by_key = {tuple(r[1:]): int(r[0]) for r in result}
        return [by_key[k] for k in keys]
    result = await session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return [int(i) for i in result.scalars()]


def _customer_values(draft: RowDraft, now: datetime) -> dict[str, Any]:
    # every row the same keys: one executemany INSERT for the whole batch
    values: dict[str, Any] = {name: None for name in _CUSTOMER_COLUMNS}
    values.update(draft.customer)
    values["status"] = values["status"] or "prospect"
    values["name_key"] = draft.customer_key
    owned = values["owner_id"] is not None
    # the owner gets the full pool-return period from the day of the import
    values["owner_since"] = now if owned else None
    values["last_touched_at"] = now if owned else None
    return values


_CUSTOMER_COLUMNS = ("name", "kind", "category", "industry", "source", "province", "city",
                     "address", "vip_tier", "vip_value", "status", "owner_id")


def _retarget(ctx: ImportContext, draft: RowDraft, real_id: int) -> None:
    """Swap the placeholder id of a newly written customer for its real one."""
    fake = draft.customer_id
    draft.customer_id = real_id
    if fake is None or fake not in ctx.by_id:
        return
    old = ctx.by_id.pop(fake)
    new = KnownCustomer(real_id, old.name, old.owner, old.row)
    ctx.by_id[real_id] = new
    same_key = ctx.by_key.get(draft.customer_key, [])
    for i, k in enumerate(same_key):
        if k.id == fake:
            same_key[i] = new
    for e164, _ in draft.phones + draft.contact_phones:
        if ctx.by_phone.get(e164) is old:
            ctx.by_phone[e164] = new
    if draft.code and ctx.by_code.get(draft.code.casefold()) is old:
        ctx.by_code[draft.code.casefold()] = new


def phone_kind(e164: str) -> str:
    """``mobile`` | ``landline`` | ``toll-free`` | ``phone`` of a normalised number."""
    import phonenumbers

    try:
        kind = phonenumbers.number_type(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return "phone"
    types = phonenumbers.PhoneNumberType
    return {types.MOBILE: "mobile", types.FIXED_LINE: "landline",
            types.TOLL_FREE: "toll-free"}.get(kind, "phone")


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, datetime | date):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal):
            out[key] = str(value)
        else:
            out[key] = value
    return out
