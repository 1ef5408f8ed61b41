"""The demo's orders (issue 18): books from foreign publishers (Springer, Elsevier,
Wiley, Oxford and Cambridge University Press) for libraries and universities, due
before the September term; spare parts for coaches (ZF, Bosch) and printers (Kyocera);
their supplier batches at every stage, one of them LATE (at customs long past its
expected day), one threatening a promised delivery, one line still to be batched.

Who sees what: the demo caller 北京博文进口图书有限公司 (010-5129 7073, 13600136000)
and 宇通客车服务站(郑州) (+86 137 0013 7000) have open orders, so the IVR's order
status and the pop show them; li.na's home page lists the late coach-parts batch,
wang.lei's the batch that will miss 上海巴士's promised day.

Rules:
- idempotent: suppliers by code, batches by code, orders by number: a second run
  creates nothing;
- days are relative to the seed's ``today``; a batch's expected day is what
  ``crm_core.order_eta`` forecast on the day it entered its stage (as a stage update
  does), so a batch that overstayed is overdue exactly as in real use;
- the September due date is the next September 1st.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import order_eta
from crm_core.models import (
    Contact,
    OrderLine,
    ProductLine,
    SalesOrder,
    Supplier,
    SupplierBatch,
)

# (code, name, English name, country)
SUPPLIERS: list[tuple[str, str, str, str]] = [
    ("SPRINGER", "施普林格", "Springer Nature", "DE"),
    ("ELSEVIER", "爱思唯尔", "Elsevier", "NL"),
    ("WILEY", "威立", "John Wiley & Sons", "US"),
    ("OUP", "牛津大学出版社", "Oxford University Press", "GB"),
    ("CUP", "剑桥大学出版社", "Cambridge University Press", "GB"),
    ("ZF", "采埃孚", "ZF Friedrichshafen", "DE"),
    ("BOSCH", "博世", "Robert Bosch", "DE"),
    ("KYOCERA", "京瓷", "Kyocera Document Solutions", "JP"),
]
# what a supplier's lines are (the catalogue's product line: sales by product line) and
# what they cost us as a share of the price (margins); a line with no supplier has
# neither (its cost is not known yet: the margin reports leave it out)
SUPPLIER_LINES: dict[str, tuple[str, str]] = {
    "SPRINGER": ("BOOK-IMPORT", "0.72"), "ELSEVIER": ("BOOK-IMPORT", "0.75"),
    "WILEY": ("BOOK-IMPORT", "0.70"), "OUP": ("BOOK-IMPORT", "0.68"),
    "CUP": ("BOOK-IMPORT", "0.69"), "ZF": ("BUS-COACH", "0.62"),
    "BOSCH": ("BUS-COACH", "0.66"), "KYOCERA": ("PRN-LASER", "0.58"),
}


@dataclass(frozen=True)
class DemoBatch:
    code: str
    supplier: str
    stages: tuple[tuple[str, int], ...]  # (stage, days ago it was reached), in order


BATCHES: list[DemoBatch] = [
    DemoBatch("BK-SPR-2509", "SPRINGER", (("ordered", 150), ("shipped", 136), ("customs", 100),
                                          ("inspection", 92), ("warehouse", 86),
                                          ("dispatched", 83), ("delivered", 80))),
    DemoBatch("BK-SPR-2601", "SPRINGER", (("ordered", 60), ("shipped", 45), ("customs", 5))),
    DemoBatch("BK-OUP-2602", "OUP", (("ordered", 25), ("shipped", 10))),
    DemoBatch("BK-ELS-2603", "ELSEVIER", (("ordered", 70), ("shipped", 55), ("customs", 12),
                                          ("inspection", 2))),
    DemoBatch("BK-WIL-2604", "WILEY", (("ordered", 3),)),
    DemoBatch("BK-CUP-2605", "CUP", (("ordered", 75), ("shipped", 60), ("customs", 20),
                                     ("inspection", 9), ("warehouse", 1))),
    # the late one: at customs for 40 days where 7 are usual
    DemoBatch("PT-ZF-2606", "ZF", (("ordered", 95), ("shipped", 80), ("customs", 40))),
    DemoBatch("PT-KYO-2607", "KYOCERA", (("ordered", 30), ("shipped", 20), ("customs", 12),
                                         ("inspection", 6), ("warehouse", 3),
                                         ("dispatched", 1))),
    # ordered two days ago: expected two months on, after 上海巴士's promised day
    DemoBatch("PT-BOSCH-2608", "BOSCH", (("ordered", 2),)),
]


@dataclass(frozen=True)
class DemoLine:
    title: str
    ref: str | None
    quantity: int
    price: str | None
    batch: str | None  # None: to be batched (no supplier named yet)
    supplier: str | None = None
    state: str = "active"


@dataclass(frozen=True)
class DemoOrder:
    number: str
    customer: str
    owner: str
    due: str | int  # "september", or days from today
    lines: tuple[DemoLine, ...]
    contact: str | None = None
    status: str = "open"
    days_ago: int = 30


L = DemoLine
ORDERS: list[DemoOrder] = [
    DemoOrder("SO700101", "北京博文进口图书有限公司", "li.na", "september", (
        L("线性代数应该这样学 Linear Algebra Done Right (4th ed.)", "9783031410253", 40,
          "389.00", "BK-SPR-2601"),
        L("数据挖掘原理 Principles of Data Mining", "9781447174929", 25, "460.00",
          "BK-SPR-2601"),
        L("牛津临床医学手册 Oxford Handbook of Clinical Medicine", "9780198844013", 30,
          "298.00", "BK-OUP-2602"),
    ), contact="吴芳", days_ago=62),
    DemoOrder("SO700102", "北京博文进口图书有限公司", "li.na", "september", (
        L("物理学基础 Fundamentals of Physics (Halliday)", "9781119773511", 60, "520.00",
          "BK-WIL-2604"),
    ), contact="吴芳", days_ago=5),
    DemoOrder("SO700103", "清华大学图书馆", "li.na", "september", (
        L("Graduate Texts in Mathematics: Real Analysis", "9783030050024", 20, "410.00",
          "BK-SPR-2601"),
        L("教学参考资料（供应商待定）Course readers, supplier to be confirmed", None, 15, None,
          None),
    ), contact="孙莉", days_ago=61),
    DemoOrder("SO700104", "复旦大学图书馆", "wang.lei", "september", (
        L("格氏解剖学 Gray's Anatomy for Students", "9780323934237", 35, "880.00",
          "BK-ELS-2603"),
        L("罗宾斯基础病理学 Robbins Basic Pathology", "9780323790185", 20, "760.00",
          "BK-ELS-2603", state="back_ordered"),
    ), contact="钱文", days_ago=72),
    DemoOrder("SO700105", "浙江大学图书馆", "wang.lei", "september", (
        L("有机化学 Organic Chemistry (Klein)", "9781119659594", 45, "495.00", "BK-WIL-2604"),
    ), days_ago=4),
    DemoOrder("SO700106", "中山大学图书馆", "chen.hao", "september", (
        L("经济学词典 A Dictionary of Economics", "9780198759430", 10, "168.00",
          "BK-OUP-2602"),
        L("生物化学 Biochemistry (Voet)", "9781119772262", 12, "650.00", "BK-WIL-2604"),
    ), contact="Grace Lin", days_ago=26),
    DemoOrder("SO700107", "上海外国语大学图书馆", "wang.lei", "september", (
        L("剑桥英语语法 Cambridge Grammar of English", "9781316638750", 50, "215.00",
          "BK-CUP-2605"),
    ), contact="Sarah Johnson", days_ago=76),
    DemoOrder("SO700108", "宇通客车服务站(郑州)", "li.na", 20, (
        L("变速箱同步器总成 Gearbox synchronizer assembly", "ZF-6S1600-SYN", 4, "6800.00",
          "PT-ZF-2606"),
        L("离合器分泵 Clutch slave cylinder", "ZF-CSC-44", 10, "1250.00", "PT-ZF-2606"),
    ), contact="孙建国", days_ago=96),
    DemoOrder("SO700109", "郑州长途汽车客运总站", "li.na", 45, (
        L("变速箱同步器总成 Gearbox synchronizer assembly", "ZF-6S1600-SYN", 2, "6800.00",
          "PT-ZF-2606"),
    ), contact="马超", days_ago=96),
    DemoOrder("SO700110", "上海巴士旅游集团有限公司", "wang.lei", 20, (
        L("ABS 轮速传感器 ABS wheel speed sensor", "BOSCH-0265007", 24, "420.00",
          "PT-BOSCH-2608"),
        L("高压油泵 High-pressure fuel pump", "BOSCH-CP4", 3, "5600.00", "PT-BOSCH-2608"),
    ), contact="黄丽", days_ago=3),
    DemoOrder("SO700111", "深圳速印打印机维修中心", "chen.hao", 7, (
        L("定影组件 Fuser unit FK-1150", "FK-1150", 6, "980.00", "PT-KYO-2607"),
        L("硒鼓 Drum unit DK-1150", "DK-1150", 10, "560.00", "PT-KYO-2607"),
    ), contact="陈静", days_ago=31),
    # the big contract of the managers' home page: the autumn term's textbooks, 4 days ago
    DemoOrder("SO700113", "复旦大学图书馆", "wang.lei", "september", (
        L("微积分 Calculus: Early Transcendentals (Anton)", "9781119778189", 300, "520.00",
          "BK-WIL-2604"),
    ), contact="钱文", days_ago=4),
    DemoOrder("SO700112", "国家图书馆外文采编部", "li.na", -60, (
        L("斯普林格数学百科 Encyclopaedia of Mathematics", "9789400959910", 5, "2400.00",
          "BK-SPR-2509"),
    ), status="closed", days_ago=152),
]


def september(today: date) -> date:
    """The next September 1st (the term the books must arrive before)."""
    this_year = date(today.year, 9, 1)
    return this_year if today < this_year else date(today.year + 1, 9, 1)


def batch_row(demo: DemoBatch, supplier_id: int, today: date) -> SupplierBatch:
    """The batch as its stage updates would have left it (pure)."""
    dates = {stage: today - timedelta(days=ago) for stage, ago in demo.stages}
    stage, entered = demo.stages[-1][0], dates[demo.stages[-1][0]]
    usual = order_eta.usual_days([])
    return SupplierBatch(
        code=demo.code, supplier_id=supplier_id, stage=stage, stage_on=entered,
        stage_dates={s: d.isoformat() for s, d in dates.items()},
        expected_on=order_eta.expected_arrival(stage, entered, usual, entered))


async def seed_orders(session: AsyncSession, *, customers: dict[str, int],
                      users: dict[str, int], today: date,
                      at: Callable[[int], datetime]) -> dict[str, int]:
    """Create whatever of the demo's orders is missing; how many of each were created."""
    made = {"suppliers": 0, "supplier_batches": 0, "orders": 0, "order_lines": 0}
    suppliers = {s.code: s for s in (await session.scalars(select(Supplier))).all()}
    for code, name, name_en, country in SUPPLIERS:
        if code not in suppliers:
            suppliers[code] = Supplier(code=code, name=name, name_en=name_en, country=country)
            session.add(suppliers[code])
            made["suppliers"] += 1
    await session.flush()
    batches = {b.code: b for b in (await session.scalars(select(SupplierBatch))).all()}
    for kept in BATCHES:
        if kept.code not in batches:
            batches[kept.code] = batch_row(kept, suppliers[kept.supplier].id, today)
            session.add(batches[kept.code])
            made["supplier_batches"] += 1
    await session.flush()
    product_lines = {p.code: p.id for p in (await session.scalars(select(ProductLine))).all()}
    known = set((await session.scalars(select(SalesOrder.number).where(
        SalesOrder.number.in_([o.number for o in ORDERS])))).all())
    for demo in ORDERS:
        if demo.number in known or demo.customer not in customers:
            continue
        cid = customers[demo.customer]
        contact = None if demo.contact is None else await session.scalar(
            select(Contact.id).where(Contact.customer_id == cid,
                                     Contact.name == demo.contact).limit(1))
        due = september(today) if demo.due == "september" else (
            today + timedelta(days=int(demo.due)))
        order = SalesOrder(number=demo.number, customer_id=cid, contact_id=contact,
                           owner_id=users.get(demo.owner), due_date=due, status=demo.status,
                           created_at=at(demo.days_ago), updated_at=at(demo.days_ago))
        session.add(order)
        await session.flush()
        for line in demo.lines:
            batch = None if line.batch is None else batches[line.batch]
            supplier_id = batch.supplier_id if batch is not None else (
                None if line.supplier is None else suppliers[line.supplier].id)
            delivered = batch is not None and batch.stage == "delivered"
            supplier_code = None if batch is None else _supplier_code(suppliers,
                                                                      batch.supplier_id)
            kind = SUPPLIER_LINES.get(supplier_code or "")
            line_code = None if kind is None else kind[0]
            cost = None if kind is None or line.price is None else (
                Decimal(line.price) * Decimal(kind[1])).quantize(Decimal("0.01"))
            session.add(OrderLine(
                order_id=order.id, batch_id=None if batch is None else batch.id,
                supplier_id=supplier_id, title=line.title, ref=line.ref,
                quantity=line.quantity, delivered_qty=line.quantity if delivered else 0,
                price=None if line.price is None else Decimal(line.price), state=line.state,
                unit_cost=cost, product_line_id=product_lines.get(line_code or "")))
            made["order_lines"] += 1
        made["orders"] += 1
    await session.flush()
    return made


def _supplier_code(suppliers: dict[str, Supplier], supplier_id: int) -> str | None:
    return next((code for code, s in suppliers.items() if s.id == supplier_id), None)
