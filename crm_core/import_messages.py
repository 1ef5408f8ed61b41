"""The importer's messages as stable codes with parameters, in English and Chinese.

Why: the importer's notes and row problems are shown on the zh-CN back office and
written into the downloadable error report, so they cannot be English text only.
Each message is a ``Msg`` (code, params); its English text stays for the CLI and the
report's English column. The web page renders ``imports.msg.<code>`` from its i18n
files (a test keeps them in step with ``CATALOG``); an unknown code falls back to the
English text.

Rules: templates use ``{name}`` placeholders filled from ``params``; a param ``owner``
that is None reads as the shared pool; a missing placeholder is left as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

LANGS = ("en", "zh-CN")

# code -> (English, Chinese)
CATALOG: dict[str, tuple[str, str]] = {
    "date_invalid": ("expected a date such as 2024-05-01, 2024/5/1 or 2024年5月1日",
                     "日期格式不对，应如 2024-05-01、2024/5/1 或 2024年5月1日"),
    "date_ambiguous": ("ambiguous date {text!r}: write it as {year}-MM-DD",
                       "日期 {text} 有歧义：请写成 {year}-MM-DD"),
    "vip_tier_invalid": ("VIP tier is 0-{max} (or 普通/银卡/金卡/钻石)",
                         "VIP 等级应为 0-{max}（或 普通/银卡/金卡/钻石）"),
    "amount_invalid": ("not an amount", "不是金额"),
    "kind_unknown": ("unknown kind (one of: company, person)",
                     "未知的客户性质（可选：企业、个人）"),
    "status_unknown": ("unknown status (one of: active, dormant, lost, prospect)",
                       "未知的客户状态（可选：潜在、活跃、休眠、流失）"),
    "phone_invalid": ("not a valid phone number", "不是有效的电话号码"),
    "owner_unknown": ("unknown owner (no user with this username or name)",
                      "未知的负责人（没有这个用户名或姓名的用户）"),
    "email_invalid": ("not an email address", "不是邮箱地址"),
    "asset_needs_serial": ("an asset needs its serial number", "设备需要填写序列号"),
    "warranty_before_purchase": ("warranty ends before the purchase date",
                                 "保修截止早于购买日期"),
    "product_unknown": ("unknown product line", "未知的产品线"),
    "customer_code_unknown": ("no customer with this code in this import",
                              "本次导入中没有这个客户编号"),
    "customer_id_unknown": ("no customer with this id", "没有这个 ID 的客户"),
    "customer_missing": ("which customer? (a customer name, id or code is required)",
                         "哪个客户？（需要客户名称、ID 或编号）"),
    "customer_name_unknown": ("no customer with this name", "没有这个名称的客户"),
    "customer_name_ambiguous": ("several customers have this name: use the customer id",
                                "有多个客户叫这个名称：请用客户 ID"),
    "duplicate_serial_in_file": ("duplicate in this file: same serial number as row {row}",
                                 "文件内重复：序列号与第 {row} 行相同"),
    "duplicate_serial": ("duplicate: serial number already registered",
                         "重复：序列号已登记"),
    "duplicate_serial_of": ("duplicate: serial number already registered (customer {id} "
                            "{name})", "重复：序列号已登记（客户 {id} {name}）"),
    "duplicate_name_in_file": ("duplicate in this file: same name as row {row} ({name})",
                               "文件内重复：名称与第 {row} 行相同（{name}）"),
    "duplicate_phone_in_file": ("duplicate in this file: same phone number as row {row} "
                                "({name})", "文件内重复：电话号码与第 {row} 行相同（{name}）"),
    "duplicate_name": ("duplicate: same name as customer {id} {name} (owner: {owner})",
                       "重复：名称与客户 {id} {name} 相同（负责人：{owner}）"),
    "duplicate_phone": ("duplicate: same phone number as customer {id} {name} (owner: "
                        "{owner})", "重复：电话号码与客户 {id} {name} 相同（负责人：{owner}）"),
    "duplicate_existing": ("duplicate: {reason}: customer {id} {name} (owner: {owner})",
                           "重复（{reason}）：客户 {id} {name}（负责人：{owner}）"),
    "duplicate_contact": ("duplicate: {name} already has this contact",
                          "重复：{name} 已有这个联系人"),
    "name_missing": ("the customer name is missing", "缺少客户名称"),
    "contact_name_missing": ("the contact's name is missing", "缺少联系人姓名"),
    "serial_missing": ("the serial number is missing", "缺少序列号"),
    "unexpected": ("unexpected error: {error}", "意外错误：{error}"),
    "not_written": ("not written: {error}", "未写入：{error}"),
    # the service network (crm_core.network_import)
    "station_code_missing": ("the station code is missing", "缺少服务站编号"),
    "station_name_missing": ("the station name is missing", "缺少服务站名称"),
    "station_code_unknown": ("no station with this code (in the database or in this file)",
                            "没有这个编号的服务站（数据库和本文件中都没有）"),
    "duplicate_station_code": ("duplicate: a station with this code exists already",
                              "重复：已有这个编号的服务站"),
    "duplicate_station_code_in_file": ("duplicate in this file: same station code as row {row}",
                                      "文件内重复：服务站编号与第 {row} 行相同"),
    "duplicate_technician": ("duplicate: station {station} already has a technician of this name",
                            "重复：服务站 {station} 已有同名技术员"),
    "technician_name_missing": ("the technician's name is missing", "缺少技术员姓名"),
    "skill_unknown": ("unknown skill (a product line or a trade such as 电气, 液压, 空调)",
                     "未知的技能（应为产品线或工种，如 电气、液压、空调）"),
    "province_invalid": ("not a province of China", "不是中国的省份"),
    "number_invalid": ("not a number", "不是数字"),
    "capacity_invalid": ("capacity is a whole number >= 0", "接单容量应为不小于 0 的整数"),
    "hours_invalid": ("working hours such as 08:30-17:30 (Monday to Friday) or 08:00-20:00 每天",
                     "工作时间应如 08:30-17:30（周一至周五）或 08:00-20:00 每天"),
    "covers_invalid": ("{part!r} is not a province (or province and city) of China",
                      "“{part}”不是中国的省份（或省份加城市）"),
    "yes_no_invalid": ("expected yes or no (是/否)", "应为 是 或 否"),
    "field_invalid": ("{field}: {error}", "字段 {field} 有误：{error}"),
    "no_network_columns": ("{sheet}: no columns of stations (code, name) or technicians "
                          "(station code, name)",
                          "{sheet}：没有服务站（编号、名称）或技术员（服务站编号、姓名）的列"),
    # why a whole file could not be imported (the job's error)
    "no_name_column": ("{sheet}: no column for the customer name (headers: {headers}); map "
                       "one with --map HEADER=name",
                       "{sheet}：没有客户名称列（表头：{headers}）"),
    "no_customer_column": ("{sheet}: no column naming the customer (name, id or code)",
                           "{sheet}：没有指明客户的列（名称、ID 或编号）"),
    "no_contact_column": ("{sheet}: no column for the contact's name", "{sheet}：没有联系人姓名列"),
    "no_serial_column": ("{sheet}: no column for the serial number", "{sheet}：没有序列号列"),
    "xls_unsupported": ("Excel 97 .xls is not supported: save it as .xlsx or CSV",
                        "不支持 Excel 97 的 .xls 文件：请另存为 .xlsx 或 CSV"),
    # notes on reading the file and its columns
    "note_column_taken": ("column {column!r} ignored: {field} already comes from another "
                          "column", "列“{column}”已忽略：{field} 已由另一列提供"),
    "note_column_unused": ("column {column!r} not imported", "列“{column}”未导入"),
    "note_encoding": ("{file}: encoding {encoding}", "{file}：编码 {encoding}"),
    "note_sheets_skipped": ("sheets skipped (say which with --sheet): {sheets}",
                            "已跳过的工作表（用 --sheet 指定）：{sheets}"),
    "note_no_duplicates_module": ("crm_core.duplicates missing: the importer's own guard "
                                  "was used", "缺少 crm_core.duplicates：使用了导入程序自带的查重"),
    # stage updates of supplier batches (crm_core.stage_import, issue 18)
    "stage_batch_missing": ("which batch? (the batch code is missing)",
                            "哪个批次？（缺少批次号）"),
    "stage_batch_unknown": ("no batch {batch}", "没有批次 {batch}"),
    "stage_word_unknown": ("unknown stage (one of: {stages})", "未知的阶段（可选：{stages}）"),
    "stage_refused": ("refused: {error}", "被拒绝：{error}"),
    "stage_columns_missing": ("{sheet}: a stage update needs a batch column and a stage "
                              "column (headers: {headers})",
                              "{sheet}：阶段更新需要批次列和阶段列（表头：{headers}）"),
    # orders (crm_core.order_import, issue 18)
    "order_number_missing": ("which order? (the order number is missing)",
                             "哪个订单？（缺少订单号）"),
    "order_title_missing": ("the line's title or product (or its ISBN/model) is missing",
                            "缺少书名/品名（或 ISBN/型号）"),
    "order_quantity_invalid": ("the quantity is a whole number from 1 to {max}",
                               "数量应为 1 到 {max} 的整数"),
    "order_customer_unknown": ("no customer {customer} (by code, phone or name)",
                               "没有客户 {customer}（按编号、电话或名称）"),
    "order_salesman_unknown": ("unknown salesman {salesman} (no user with this username "
                               "or name)", "未知的业务员 {salesman}（没有这个用户名或姓名的用户）"),
    "order_refused": ("order refused: {error}", "订单被拒绝：{error}"),
    "order_skipped": ("order {number} not imported: see row {row}",
                      "订单 {number} 未导入：见第 {row} 行"),
    "order_supplier_created": ("supplier {supplier} was not known: created with code "
                               "{code} (check its name; rename or merge it if it is a "
                               "known supplier misspelt)",
                               "供应商 {supplier} 原本不存在：已新建，代码 {code}（请核对名称；"
                               "如为已有供应商的错写，请改名或合并）"),
    "order_columns_missing": ("{sheet}: an order import needs an order number column and "
                              "a title or ISBN/model column (headers: {headers})",
                              "{sheet}：订单导入需要订单号列和书名/品名或 ISBN/型号列"
                              "（表头：{headers}）"),
}
POOL = ("shared pool / 公海", "公海")
_PLACEHOLDER = re.compile(r"\{(\w+)(!r)?\}")


def render(code: str, params: dict[str, Any], lang: str = "en", fallback: str = "") -> str:
    """The text of a message in ``lang`` (English for any other); ``fallback`` for an
    unknown code."""
    templates = CATALOG.get(code)
    if templates is None:
        return fallback or code
    zh = lang == "zh-CN"
    template = templates[1] if zh else templates[0]

    def value(m: re.Match[str]) -> str:
        name = m[1]
        if name == "owner" and params.get("owner") is None:
            return POOL[1] if zh else POOL[0]
        if name not in params:
            return m[0]
        return repr(params[name]) if m[2] else str(params[name])

    return _PLACEHOLDER.sub(value, template)


@dataclass(frozen=True)
class Msg:
    """A message: a code from ``CATALOG`` and its parameters (JSON values)."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return render(self.code, self.params)

    def __str__(self) -> str:
        return self.text

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        """``{code, params, message}``; ``prefix`` (a sheet's name) goes before the text."""
        return {"code": self.code, "params": dict(self.params),
                "message": f"{prefix}{self.text}"}


class CodedError(ValueError):
    """A ValueError that carries its message's code (the English text is its str)."""

    def __init__(self, code: str, **params: Any) -> None:
        self.msg = Msg(code, params)
        super().__init__(self.msg.text)


def localized(issue: dict[str, Any], lang: str) -> str:
    """The message of a stored issue or note in ``lang``: its code rendered, or its
    stored English text when it has no known code."""
    fallback = str(issue.get("message") or "")
    code = issue.get("code")
    if not code or code not in CATALOG:
        return fallback
    return render(str(code), dict(issue.get("params") or {}), lang, fallback)
