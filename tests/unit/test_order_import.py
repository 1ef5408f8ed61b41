"""The orders import's pure parts (issue 18 item 1): headers in either language, a row
continuing the order above it, a line judged on its own, a new supplier's code."""

from __future__ import annotations

from decimal import Decimal

from crm_core.importer import RowIssue, Table
from crm_core.order_import import (
    LineRow,
    columns_of,
    line_key,
    order_numbers,
    parse_row,
    supplier_code,
)

HEADERS = ["订单号", "客户名称", "业务员", "交货日期", "书名", "ISBN", "数量", "单价", "出版社"]


def table(*rows: list[object]) -> Table:
    return Table("orders.csv", "orders", HEADERS, [(i + 2, list(r)) for i, r in enumerate(rows)])


def test_columns_in_chinese_and_english() -> None:
    assert columns_of(HEADERS) == {"number": 0, "customer": 1, "salesman": 2, "due": 3,
                                   "title": 4, "ref": 5, "quantity": 6, "price": 7,
                                   "supplier": 8}
    english = columns_of(["Order No.", "Customer code", "Sales Rep", "Due Date", "Product",
                          "Model", "Qty", "Unit price", "Publisher"])
    assert set(english) == {"number", "customer_code", "salesman", "due", "title", "ref",
                            "quantity", "price", "supplier"}


def test_a_row_without_a_number_continues_the_order_above() -> None:
    t = table(["", "x", "", "", "A", "", "1", "", ""],
              ["SO1", "x", "", "", "A", "", "1", "", ""],
              ["", "", "", "", "B", "", "1", "", ""],
              ["SO2", "y", "", "", "C", "", "1", "", ""])
    assert order_numbers(t, columns_of(HEADERS)) == ["", "SO1", "SO1", "SO2"]


def test_a_line_is_judged_on_its_own() -> None:
    t = table()
    cols = columns_of(HEADERS)
    good = parse_row(t, cols, 2, ["SO1", "复旦大学图书馆", "alice", "2026年9月1日",
                                  "Linear Algebra", 9783031410253, 40.0, "¥389", "Springer"],
                     "SO1")
    assert isinstance(good, LineRow)
    assert (good.ref, good.quantity, good.price, good.supplier) == (
        "9783031410253", 40, Decimal("389.00"), "Springer")
    assert good.due is not None and good.due.isoformat() == "2026-09-01"
    no_supplier = parse_row(t, cols, 3, ["SO1", "", "", "", "Notes", "", "", "", ""], "SO1")
    assert isinstance(no_supplier, LineRow)
    assert no_supplier.supplier is None and no_supplier.quantity == 1
    by_model = parse_row(t, cols, 4, ["SO1", "", "", "", "", "ZK6122H-BP", "2", "", ""], "SO1")
    assert isinstance(by_model, LineRow) and by_model.title == "ZK6122H-BP"
    for cells, code in ((["SO1", "", "", "", "X", "", "1.5", "", ""], "order_quantity_invalid"),
                        (["SO1", "", "", "", "X", "", "0", "", ""], "order_quantity_invalid"),
                        (["SO1", "", "", "", "X", "", "1", "abc", ""], "amount_invalid"),
                        (["SO1", "", "", "2026-13-40", "X", "", "1", "", ""], "date_invalid"),
                        (["SO1", "", "", "", "", "", "1", "", ""], "order_title_missing")):
        issue = parse_row(t, cols, 9, cells, "SO1")
        assert isinstance(issue, RowIssue) and (issue.row, issue.code) == (9, code), cells
    missing = parse_row(t, cols, 2, ["", "", "", "", "X", "", "1", "", ""], "")
    assert isinstance(missing, RowIssue) and missing.code == "order_number_missing"
    assert missing.column == "订单号"


def test_supplier_codes_and_line_keys() -> None:
    assert supplier_code("Oxford University Press", set()) == "OXFORD-UNIVERSITY-PRESS"
    assert supplier_code("Springer", {"springer"}) == "SPRINGER-2"
    assert supplier_code("  ", set()) == "SUPPLIER"
    assert line_key("Linear Algebra", "9783031410253") == "9783031410253"
    assert line_key(" Notes ", None) == "notes"
