"""The demo seed (``hotline demo``): a realistic, bilingual company to click through.

Who is in it: pharmaceutical packaging makers (药品包装), bus operators and travel
companies (客运/旅游), printer and office-equipment customers (打印机/办公设备),
libraries and universities ordering imported books (图书馆/大学/进口图书) and
magazine subscribers (期刊订阅); with contacts (Chinese and English names),
Chinese mobile and landline numbers with area codes, product lines (zh/en),
assets with serial numbers and warranties (some ending soon), interactions, open
and closed tickets with their status history, opportunities, subscriptions and
contracts (some expired, some ending soon); users: agents alice/bob/carol (the
simulator's queue members Local/100x@agents/n), account managers wang.lei, li.na
and chen.hao, the hotline's supervisor zhao.min (every call and agent: she starts on
the live calls page), the service station BUS-ZHENGZHOU's staff zz.station (the station's
page, ``/station``) and an admin (password ``demo`` for everyone);
the IVR's number plan: the 400 and 800 numbers and four old department hotlines;
the service network (``crm_core.demo_network``: about 400 stations across China with
their technicians), the open tickets routed to it; customers' orders of imported books
and spare parts with their supplier batches at every stage, one late
(``crm_core.demo_orders``).

Rules:
- every number the demo simulator dials (``hotline.demo.DEMO_CUSTOMERS``) belongs
  to the same company here, so the screen pop shows a full record;
- idempotent: each record is looked up by its natural key (username, product code,
  customer name key, serial number, customer + text/title) and only created when
  missing, so running the seed twice, or over the old 9-customer seed, is safe;
- dates are relative to the day the record is first created (warranties "ending
  soon" are soon on the day you seed);
- plain SQLAlchemy in one transaction; customers get an audit entry (``seed``) and
  their first ownership record.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_core import demo_sales, dispatch, sla
from crm_core.audit import audit, snapshot
from crm_core.demo_network import seed_network
from crm_core.demo_orders import seed_orders
from crm_core.dispatch import route_ticket
from crm_core.holidays import load_holidays
from crm_core.models import (
    Asset,
    Contact,
    Customer,
    Interaction,
    IvrNumber,
    Mailing,
    Opportunity,
    OwnershipChange,
    PhoneNumber,
    ProductLine,
    RepairRecord,
    Role,
    ServiceStation,
    StationUser,
    Subscription,
    Technician,
    Ticket,
    TicketStatusChange,
    User,
)
from crm_core.names import same_company
from crm_core.permissions import SYSTEM
from crm_core.sla import seed_policies
from crm_core.tickets import OPEN_STATUSES, allocate_number
from numbering.normalize import normalize

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEMO_PASSWORD = "demo"

# (username, display name, role, team, region, language, agent interface, agent name)
USERS: list[tuple[str, str, str, str | None, str | None, str, str | None, str | None]] = [
    ("admin", "系统管理员 Admin", "admin", None, None, "zh-CN", None, None),
    # her desk phone (1099: no agent of the demo PBX has it) is what she listens with
    ("zhao.min", "赵敏", "hotline_supervisor", "热线", "上海", "zh-CN", "Local/1099@agents/n",
     "赵敏"),
    ("wang.lei", "王磊", "manager", "华东", "上海", "zh-CN", None, None),
    ("li.na", "李娜", "manager", "华北", "北京", "zh-CN", None, None),
    ("chen.hao", "陈浩", "manager", "华南", "广东", "zh-CN", None, None),
    ("alice", "Alice", "agent", "热线", None, "en", "Local/1001@agents/n", "Alice"),
    ("bob", "Bob", "agent", "热线", None, "zh-CN", "Local/1002@agents/n", "Bob"),
    ("carol", "Carol", "agent", "热线", None, "zh-CN", "Local/1003@agents/n", "Carol"),
]

# demo users an older seed gave another role: (old role, new role), moved while they
# still hold the old one (a role an admin chose since is left alone). zhao.min was a
# sales team's supervisor and saw an empty page; she supervises the hotline.
MOVED: dict[str, tuple[str, str]] = {"zhao.min": ("supervisor", "hotline_supervisor")}

PRODUCT_LINES: list[tuple[str, str, str]] = [
    ("PKG-BLISTER", "泡罩包装机", "Blister packaging machines"),
    ("PKG-FOIL", "药用铝箔", "Pharmaceutical aluminium foil"),
    ("BUS-COACH", "旅游客车", "Touring coaches"),
    ("BUS-CITY", "城市公交车", "City buses"),
    ("PRN-LASER", "激光打印机", "Laser printers"),
    ("OFF-MFP", "多功能复印机", "Multifunction copiers"),
    ("BOOK-IMPORT", "进口图书", "Imported books"),
    ("MAG-SUB", "期刊订阅", "Magazine subscriptions"),
]

PHARMA, BUS, OFFICE, LIBRARY, MAGAZINE = (
    "药品包装", "客运/旅游", "打印机/办公设备", "图书馆/进口图书", "期刊订阅",
)


@dataclass(frozen=True)
class DemoContact:
    name: str
    role: str | None = None
    phones: tuple[str, ...] = ()
    email: str | None = None


@dataclass(frozen=True)
class DemoAsset:
    product: str
    model: str
    serial: str
    site: str | None
    bought_days_ago: int
    warranty_days_left: int  # negative: expired that many days ago


@dataclass(frozen=True)
class DemoCustomer:
    name: str
    category: str
    industry: str
    province: str
    city: str
    address: str
    owner: str | None
    vip_tier: int
    vip_value: int | None
    status: str
    source: str
    phones: tuple[str, ...] = ()  # the company's own numbers
    contacts: tuple[DemoContact, ...] = ()
    assets: tuple[DemoAsset, ...] = ()
    kind: str = "company"
    untouched_days: int = 0  # days since the owner last worked on it
    created_days_ago: int = 400


C, A = DemoContact, DemoAsset

CUSTOMERS: list[DemoCustomer] = [
    # --- 药品包装 pharmaceutical packaging ---------------------------------------------
    DemoCustomer(
        "华东医药包装有限公司", PHARMA, "医药制造", "上海", "上海",
        "上海市闵行区莘庄工业区春东路508号",
        "wang.lei", 2, 1_200_000, "active", "展会", ("021-6432 1000",),
        (C("张伟", "采购经理", ("13800138000",), "zhangwei@hdpack.cn"),
         C("李静", "设备主管", ("13816612345",))),
        (A("PKG-BLISTER", "DPP-260", "BPM-2022-0417", "莘庄一号车间", 760, 25),
         A("PKG-BLISTER", "DPP-260", "BPM-2023-0102", "莘庄二号车间", 500, 230),
         A("PKG-BLISTER", "DPH-320", "BPM-2020-0815", "莘庄一号车间", 1500, -400)),
        created_days_ago=900),
    DemoCustomer(
        "VIP 客户 — 国药集团", PHARMA, "医药流通", "北京", "北京", "北京市海淀区知春路20号",
        "li.na", 3, 5_000_000, "active", "老客户推荐", (),
        (C("刘洋", "设备部主任", ("13911112222",), "liuyang@sinopharm.example"),
         C("Michael Brown", "Technical Director", ("13911113333",), "m.brown@example.com")),
        (A("PKG-BLISTER", "DPH-320", "BPM-2023-1120", "大兴生产基地", 420, 310),
         A("PKG-BLISTER", "DPH-320", "BPM-2023-1121", "大兴生产基地", 420, 310),
         A("PKG-FOIL", "PTP-25", "FOIL-2024-3301", "大兴仓库", 200, 165)),
        created_days_ago=1200),
    DemoCustomer(
        "江苏康源药业包装材料有限公司", PHARMA, "医药包装材料", "江苏", "泰州",
        "江苏省泰州市医药高新区药城大道1号", "wang.lei", 1, 380_000, "active", "热线",
        ("0523-8668 1234",), (C("周敏", "厂长", ("13952612345",)),),
        (A("PKG-BLISTER", "DPP-140", "BPM-2021-0609", "泰州工厂", 1100, 7),)),
    DemoCustomer(
        "浙江华海药用包装有限公司", PHARMA, "医药包装材料", "浙江", "台州",
        "浙江省台州市临海市汛桥镇", "wang.lei", 0, 150_000, "prospect", "网站",
        ("0576-8888 6012",), (C("徐海涛", "总经理", ("13906761234",)),), created_days_ago=60),
    DemoCustomer(
        "山东新华医疗包装有限公司", PHARMA, "医药制造", "山东", "淄博",
        "山东省淄博市高新区泰美路7号",
        "li.na", 1, 420_000, "active", "展会", ("0533-358 7100",),
        (C("高峰", "设备科长", ("13853312345",)),),
        (A("PKG-BLISTER", "DPP-260", "BPM-2024-0220", "淄博二厂", 300, 430),)),
    DemoCustomer(
        "广州白云山制药包装厂", PHARMA, "医药制造", "广东", "广州", "广州市白云区同和街云祥路88号",
        "chen.hao", 0, 90_000, "dormant", "转介绍", ("020-8666 2233",),
        (C("梁志强", "采购", ("13902201234",)),), untouched_days=120),
    DemoCustomer(
        "成都倍特药业包装有限公司", PHARMA, "医药制造", "四川", "成都", "成都市高新区科园南路8号",
        None, 0, None, "prospect", "热线", ("028-8532 6677",), created_days_ago=20),
    DemoCustomer(
        "Asia Pharma Packaging Ltd.", PHARMA, "Pharmaceutical packaging", "上海", "上海",
        "Room 1201, 88 Century Avenue, Pudong, Shanghai", "wang.lei", 1, 600_000, "active",
        "trade fair", ("+86 21 5888 0101",),
        (C("Emma Wilson", "Purchasing Manager", ("13917770101",), "emma.wilson@example.com"),),
        (A("PKG-BLISTER", "DPH-320", "BPM-2024-0508", "Pudong plant", 240, 490),)),
    # --- 客运/旅游 bus operators and travel ----------------------------------------------
    DemoCustomer(
        "宇通客车服务站(郑州)", BUS, "客车维修", "河南", "郑州", "郑州市管城区宇通路6号",
        "li.na", 1, 260_000, "active", "热线", (),
        (C("孙建国", "站长", ("+86 137 0013 7000",)),),
        (A("BUS-COACH", "ZK6122H", "LZYTBTD6-22-0318", "郑州服务站", 800, -70),)),
    DemoCustomer(
        "郑州长途汽车客运总站", BUS, "道路客运", "河南", "郑州", "郑州市二七区大学路1号",
        "li.na", 2, 900_000, "active", "展会", ("0371-6696 1234",),
        (C("马超", "车队队长", ("13703711234",)),),
        (A("BUS-COACH", "ZK6118", "LZYTBTD6-23-1107", "客运总站车场", 450, 280),
         A("BUS-COACH", "ZK6118", "LZYTBTD6-23-1108", "客运总站车场", 450, 280),
         A("BUS-CITY", "ZK6105", "LZYTCTD6-21-0511", "二七车场", 1050, -320))),
    DemoCustomer(
        "上海巴士旅游集团有限公司", BUS, "旅游客运", "上海", "上海", "上海市徐汇区漕溪北路1200号",
        "wang.lei", 2, 1_500_000, "active", "转介绍", ("021-5461 8888",),
        (C("黄丽", "采购主管", ("13916661234",), "huangli@shbus.example"),),
        (A("BUS-COACH", "ZK6127H", "LZYTBTD6-24-0201", "漕溪车场", 330, 400),
         A("BUS-COACH", "ZK6127H", "LZYTBTD6-24-0202", "漕溪车场", 330, 12))),
    DemoCustomer(
        "北京首汽旅游客运有限公司", BUS, "旅游客运", "北京", "北京", "北京市朝阳区东三环北路8号",
        "li.na", 1, 700_000, "active", "展会", ("010-6592 3456",),
        (C("郭强", "机务部经理", ("13501011234",)),),
        (A("BUS-COACH", "ZK6122H", "LZYTBTD6-22-0930", "东坝车场", 700, 30),)),
    DemoCustomer(
        "广东粤运交通股份有限公司", BUS, "道路客运", "广东", "广州", "广州市越秀区白云路27号",
        "chen.hao", 2, 1_800_000, "active", "招标", ("020-8333 5577",),
        (C("何伟", "设备采购", ("13802221234",)),),
        (A("BUS-CITY", "ZK6125", "LZYTCTD6-23-0606", "天河车场", 500, 230),
         A("BUS-CITY", "ZK6125", "LZYTCTD6-23-0607", "天河车场", 500, 230))),
    DemoCustomer(
        "桂林山水国际旅行社", BUS, "旅行社", "广西", "桂林", "桂林市秀峰区中山中路31号",
        "chen.hao", 0, 60_000, "prospect", "网站", ("0773-282 6688",),
        (C("Kevin Huang", "Operations", ("13977312345",)),), created_days_ago=45),
    DemoCustomer(
        "云南丽江古城旅游客运公司", BUS, "旅游客运", "云南", "丽江", "丽江市古城区福慧路5号",
        None, 0, None, "lost", "热线", ("0888-512 3456",)),
    DemoCustomer(
        "杭州西湖国际旅行社", BUS, "旅行社", "浙江", "杭州", "杭州市西湖区曙光路120号",
        "wang.lei", 0, 120_000, "active", "网站", ("0571-8702 1188",),
        (C("Emily Zhang", "Travel Consultant", ("13588881234",), "emily.zhang@example.com"),)),
    DemoCustomer(
        "南京中北巴士股份有限公司", BUS, "公交运营", "江苏", "南京", "南京市鼓楼区中山北路230号",
        "wang.lei", 1, 540_000, "dormant", "招标", ("025-8452 6600",),
        (C("邵军", "机务科", ("13851712345",)),),
        (A("BUS-CITY", "ZK6105", "LZYTCTD6-20-1012", "迈皋桥车场", 1400, -700),),
        untouched_days=95),
    # --- 打印机/办公设备 printers and office equipment -----------------------------------
    DemoCustomer(
        "深圳速印打印机维修中心", OFFICE, "办公设备维修", "广东", "深圳",
        "深圳市福田区华强北路1002号",
        "chen.hao", 1, 230_000, "active", "热线", ("(0755)83210000",),
        (C("陈静", "老板", ("13300133000",)),),
        (A("PRN-LASER", "LX-M4020", "LXP4020-2301-0077", "维修中心", 560, 170),
         A("OFF-MFP", "MX-3560", "MFP3560-2210-0012", "维修中心", 800, -70))),
    DemoCustomer(
        "Lanxi Printers Co., Ltd.", OFFICE, "Office equipment dealer", "浙江", "金华",
        "No. 18 Industrial Road, Lanxi, Zhejiang", "wang.lei", 0, 80_000, "active", "web",
        (), (C("David Wilson", "Purchasing", ("0086-135-0013-5000",), "d.wilson@example.com"),),
        (A("PRN-LASER", "LX-M5050", "LXP5050-2403-0140", "Lanxi warehouse", 270, 95),)),
    DemoCustomer(
        "北京中关村科技办公设备有限公司", OFFICE, "办公设备经销", "北京", "北京",
        "北京市海淀区中关村大街27号", "li.na", 1, 450_000, "active", "展会", ("010-8261 5566",),
        (C("赵磊", "技术经理", ("13601011234",)),),
        (A("OFF-MFP", "MX-4560", "MFP4560-2305-0088", "中关村展厅", 500, 230),
         A("PRN-LASER", "LX-M4020", "LXP4020-2305-0301", "中关村展厅", 500, 20))),
    DemoCustomer(
        "上海浦东新区政务服务中心", OFFICE, "政府机关", "上海", "上海", "上海市浦东新区合欢路2号",
        "wang.lei", 2, 600_000, "active", "招标", ("021-6887 0000",),
        (C("蒋涛", "信息科", ("13764561234",)),),
        (A("OFF-MFP", "MX-6070", "MFP6070-2312-0005", "一楼大厅", 380, 350),
         A("OFF-MFP", "MX-6070", "MFP6070-2312-0006", "三楼办公区", 380, 350),
         A("PRN-LASER", "LX-M5050", "LXP5050-2312-0410", "档案室", 380, 350))),
    DemoCustomer(
        "广州天河办公设备租赁有限公司", OFFICE, "设备租赁", "广东", "广州",
        "广州市天河区体育西路103号",
        "chen.hao", 0, 150_000, "active", "转介绍", ("020-3878 1122",),
        (C("罗敏", "运营", ("13922881234",)),),
        (A("OFF-MFP", "MX-3560", "MFP3560-2402-0231", "客户现场(珠江新城)", 300, 3),)),
    DemoCustomer(
        "武汉光谷文印中心", OFFICE, "文印服务", "湖北", "武汉", "武汉市洪山区光谷大道77号",
        None, 0, None, "prospect", "热线", ("027-8776 5432",), created_days_ago=10),
    DemoCustomer(
        "成都天府软件园物业管理有限公司", OFFICE, "物业管理", "四川", "成都",
        "成都市高新区天府大道中段1366号", None, 0, 50_000, "dormant", "网站", ("028-8517 9999",)),
    DemoCustomer(
        "Chen Jie Trading", OFFICE, "Trading", "广东", "深圳", "Futian, Shenzhen",
        "chen.hao", 0, None, "prospect", "hotline", (),
        (C("Chen Jie", "Owner", ("13100131002",)),), created_days_ago=30),
    DemoCustomer(
        "王芳", OFFICE, "个人", "北京", "北京", "北京市朝阳区望京西园三区", "li.na", 0, None,
        "active", "热线", ("13100131001",), (),
        (A("PRN-LASER", "LX-M1100", "LXP1100-2404-0921", "家中", 200, 165),), kind="person"),
    DemoCustomer(
        "苏州工业园区打印耗材有限公司", OFFICE, "耗材经销", "江苏", "苏州",
        "苏州工业园区星湖街328号", "wang.lei", 0, 95_000, "active", "展会", ("0512-6258 7788",)),
    # --- 图书馆/大学/进口图书 libraries and universities ----------------------------------
    DemoCustomer(
        "北京博文进口图书有限公司", LIBRARY, "图书进口", "北京", "北京",
        "北京市东城区东四北大街107号",
        "li.na", 0, 300_000, "active", "展会", ("010-5129 7073",),
        (C("吴芳", "进口部经理", ("13600136000",), "wufang@bowen-books.example"),)),
    DemoCustomer(
        "复旦大学图书馆", LIBRARY, "高校", "上海", "上海", "上海市杨浦区邯郸路220号",
        "wang.lei", 2, 800_000, "active", "招标", ("021-6564 2222",),
        (C("钱文", "外文采编部", ("13817771234",)),)),
    DemoCustomer(
        "清华大学图书馆", LIBRARY, "高校", "北京", "北京", "北京市海淀区清华园1号",
        "li.na", 3, 1_200_000, "active", "招标", ("010-6278 2137",),
        (C("孙莉", "采访部主任", ("13911001234",)),)),
    DemoCustomer(
        "浙江大学图书馆", LIBRARY, "高校", "浙江", "杭州", "杭州市西湖区余杭塘路866号",
        "wang.lei", 2, 650_000, "active", "招标", ("0571-8795 1111",)),
    DemoCustomer(
        "中山大学图书馆", LIBRARY, "高校", "广东", "广州", "广州市海珠区新港西路135号",
        "chen.hao", 1, 400_000, "active", "招标", ("020-8411 2222",),
        (C("Grace Lin", "Foreign Acquisitions", ("13926001234",), "grace.lin@example.edu"),)),
    DemoCustomer(
        "国家图书馆外文采编部", LIBRARY, "公共图书馆", "北京", "北京",
        "北京市海淀区中关村南大街33号",
        "li.na", 3, 2_000_000, "active", "招标", ("010-8854 5114",)),
    DemoCustomer(
        "上海外国语大学图书馆", LIBRARY, "高校", "上海", "上海", "上海市虹口区大连西路550号",
        "wang.lei", 1, 300_000, "active", "转介绍", ("021-3537 2000",),
        (C("Sarah Johnson", "Acquisitions Librarian", ("13611112345",),
           "s.johnson@example.edu"),)),
    DemoCustomer(
        "四川大学图书馆", LIBRARY, "高校", "四川", "成都", "成都市武侯区一环路南一段24号",
        None, 0, 150_000, "dormant", "招标", ("028-8541 1111",)),
    DemoCustomer(
        "南京大学外文书店", LIBRARY, "图书零售", "江苏", "南京", "南京市鼓楼区汉口路22号",
        "wang.lei", 0, 90_000, "prospect", "网站", ("025-8359 3000",), created_days_ago=50),
    # --- 期刊订阅 magazine subscriptions -------------------------------------------------
    DemoCustomer(
        "读者杂志社订阅部", MAGAZINE, "出版", "甘肃", "兰州", "兰州市城关区读者大道568号",
        "li.na", 0, 50_000, "active", "热线", (),
        (C("牛刚", "发行部", ("13400134000",)),)),
    DemoCustomer(
        "三联生活周刊发行部", MAGAZINE, "出版", "北京", "北京", "北京市东城区美术馆东街22号",
        "li.na", 1, 120_000, "active", "展会", ("010-6400 1122",)),
    DemoCustomer(
        "上海图书馆期刊部", MAGAZINE, "公共图书馆", "上海", "上海", "上海市徐汇区淮海中路1555号",
        "wang.lei", 1, 260_000, "active", "招标", ("021-6445 5555",),
        (C("顾敏", "期刊采购", ("13918881234",)),)),
    DemoCustomer(
        "广州日报报业集团发行中心", MAGAZINE, "报业", "广东", "广州",
        "广州市越秀区人民中路同乐路10号",
        "chen.hao", 0, 70_000, "lost", "热线", ("020-8188 3333",), untouched_days=200),
    DemoCustomer(
        "深圳市南山区图书馆", MAGAZINE, "公共图书馆", "广东", "深圳", "深圳市南山区南山大道2093号",
        "chen.hao", 0, 80_000, "active", "招标", ("0755-2664 2222",)),
    DemoCustomer(
        "李明", MAGAZINE, "个人订户", "上海", "上海", "上海市长宁区仙霞路99弄", "wang.lei", 0,
        None, "active", "热线", ("13761234567",), kind="person"),
    DemoCustomer(
        "Linda Zhou", MAGAZINE, "individual subscriber", "广东", "广州", "Tianhe, Guangzhou",
        None, 0, None, "prospect", "web", ("13922223333",), kind="person", created_days_ago=15),
]

# interactions: (customer, kind, days ago, author, place, content, result, next step, disposition)
INTERACTIONS: list[tuple[str, str, int, str, str | None, str, str | None, str | None, str]] = [
    ("华东医药包装有限公司", "call", 2, "alice", None,
     "张伟来电:二号车间泡罩机热封温度不稳定,成型不良率上升。",
     "已建报修工单,远程指导先检查热封板温控器。", "安排工程师上门", "repair"),
    ("华东医药包装有限公司", "visit", 20, "wang.lei", "莘庄工业区",
     "拜访设备主管李静,介绍DPH-320新机型及以旧换新方案。", "客户有意向替换2020年老机。",
     "两周内提交报价", "sales"),
    ("华东医药包装有限公司", "email", 6, "wang.lei", None,
     "发送保修续保方案(BPM-2022-0417 保修即将到期)。", None, "跟进续保意向", "renewal"),
    ("VIP 客户 — 国药集团", "visit", 12, "li.na", "大兴生产基地",
     "季度回访:两台DPH-320运行正常,铝箔用量上升。", "客户满意。", "Q3续签铝箔年度合同", "visit"),
    ("VIP 客户 — 国药集团", "call", 1, "bob", None,
     "Michael Brown called about spare parts lead time for the forming station.",
     "Quoted 10 working days.", "Confirm order by email", "inquiry"),
    ("江苏康源药业包装材料有限公司", "call", 4, "carol", None,
     "周厂长来电:DPP-140 保修下周到期,询问延保价格。", "已转客户经理。", "王磊报价", "renewal"),
    ("浙江华海药用包装有限公司", "call", 30, "wang.lei", None,
     "首次电话沟通,客户在评估三家供应商的泡罩包装机。", "寄送样册。", "邀请参观展会", "sales"),
    ("山东新华医疗包装有限公司", "note", 9, "li.na", None,
     "客户反馈DPP-260 切刀磨损快,需确认耗材寿命。", None, "技术部回复", "complaint"),
    ("宇通客车服务站(郑州)", "call", 3, "alice", None,
     "孙站长来电:ZK6122H 空调压缩机异响,车辆已过保。", "建有偿维修工单。", "报价后安排配件",
     "repair"),
    ("郑州长途汽车客运总站", "visit", 15, "li.na", "客运总站车场",
     "春运前车辆巡检,两台ZK6118状态良好。", "无问题。", "春运后再次巡检", "visit"),
    ("上海巴士旅游集团有限公司", "call", 5, "bob", None,
     "黄丽来电:LZYTBTD6-24-0202 仪表盘报警,保修还有两周。", "建工单,派服务站。", None,
     "repair"),
    ("上海巴士旅游集团有限公司", "visit", 25, "wang.lei", "漕溪车场",
     "沟通明年新增10台旅游客车的采购计划。", "客户需预算审批。", "准备方案", "sales"),
    ("北京首汽旅游客运有限公司", "email", 8, "li.na", None,
     "发送旅游客车保养套餐报价。", None, "电话跟进", "sales"),
    ("广东粤运交通股份有限公司", "visit", 18, "chen.hao", "天河车场",
     "城市公交车年度保养合同续签洽谈。", "原则同意续签。", "合同盖章", "renewal"),
    ("杭州西湖国际旅行社", "call", 11, "alice", None,
     "Emily Zhang asked about chartering two coaches for a conference in May.",
     "Sent to sales.", "Quote charter price", "inquiry"),
    ("南京中北巴士股份有限公司", "note", 95, "wang.lei", None,
     "客户采购冻结,暂停跟进。", None, None, "note"),
    ("深圳速印打印机维修中心", "call", 1, "carol", None,
     "陈老板来电:MX-3560 卡纸频繁,已过保,要求上门。", "建工单(有偿)。", "派工程师",
     "repair"),
    ("深圳速印打印机维修中心", "call", 40, "chen.hao", None,
     "推荐LX-M4020耗材年度套餐。", "已下单。", None, "sales"),
    ("Lanxi Printers Co., Ltd.", "email", 7, "wang.lei", None,
     "David Wilson requested a dealer price list for LX-M5050 toner.",
     "Price list sent.", "Follow up next week", "sales"),
    ("北京中关村科技办公设备有限公司", "call", 2, "bob", None,
     "赵经理来电:展厅LX-M4020 打印有竖线,保修即将到期。", "建工单。", "更换硒鼓", "repair"),
    ("上海浦东新区政务服务中心", "visit", 14, "wang.lei", "浦东新区合欢路2号",
     "年度设备巡检,3台设备运行正常。", "客户满意。", None, "visit"),
    ("广州天河办公设备租赁有限公司", "call", 6, "alice", None,
     "罗敏来电:租赁客户现场MX-3560 无法扫描到邮箱。", "远程指导配置SMTP,已解决。", None,
     "support"),
    ("王芳", "call", 10, "carol", None,
     "王女士来电咨询家用打印机墨粉更换方法。", "电话指导完成。", None, "inquiry"),
    ("Chen Jie Trading", "call", 30, "alice", None,
     "Chen Jie asked for a quote on five multifunction copiers for a new office.",
     "Passed to account manager.", "陈浩报价", "sales"),
    ("北京博文进口图书有限公司", "call", 3, "bob", None,
     "吴经理来电:一批Springer图书清关延误,询问到货时间。", "已查询物流,预计下周到。",
     "到货后通知", "inquiry"),
    ("复旦大学图书馆", "visit", 21, "wang.lei", "邯郸路220号",
     "外文采编部年度订购会议,确认2025年外文图书预算。", "预算增加10%。", "提交书目", "sales"),
    ("清华大学图书馆", "email", 5, "li.na", None,
     "发送Elsevier电子书包续订报价。", None, "等待采访部回复", "renewal"),
    ("中山大学图书馆", "call", 16, "chen.hao", None,
     "Grace Lin confirmed the standing order for Cambridge titles.", "Order confirmed.", None,
     "sales"),
    ("上海外国语大学图书馆", "call", 4, "alice", None,
     "Sarah Johnson reported missing issues of The Economist (two weeks).",
     "Claim filed with the distributor.", "Send replacement copies", "complaint"),
    ("读者杂志社订阅部", "call", 2, "carol", None,
     "牛刚来电:核对下季度团购订阅数量。", "已确认5000份。", None, "inquiry"),
    ("三联生活周刊发行部", "email", 12, "li.na", None,
     "沟通图书馆渠道合作订阅方案。", None, "月底前签约", "sales"),
    ("上海图书馆期刊部", "call", 8, "bob", None,
     "顾敏来电:外文期刊订阅即将到期,要求续订报价。", "转客户经理。", "王磊报价", "renewal"),
    ("李明", "call", 20, "alice", None,
     "李先生询问《读者》年度订阅优惠。", "已办理。", None, "sales"),
]

# tickets: (customer, asset serial, problem, status, priority, days ago, created by)
TICKETS: list[tuple[str, str | None, str, str, str, int, str]] = [
    ("华东医药包装有限公司", "BPM-2023-0102", "泡罩机热封温度不稳定,成型不良率上升", "routed",
     "high", 2, "alice"),
    ("华东医药包装有限公司", "BPM-2022-0417", "更换成型模具后试机", "closed", "normal", 60,
     "wang.lei"),
    ("VIP 客户 — 国药集团", "BPM-2023-1120", "Forming station spare parts (PM kit)", "accepted",
     "high", 1, "bob"),
    ("江苏康源药业包装材料有限公司", "BPM-2021-0609", "保修到期前全面检修", "new", "normal", 4,
     "carol"),
    ("山东新华医疗包装有限公司", "BPM-2024-0220", "切刀磨损过快", "waiting", "normal", 9,
     "li.na"),
    ("宇通客车服务站(郑州)", "LZYTBTD6-22-0318", "空调压缩机异响(过保有偿)", "on_site",
     "normal", 3, "alice"),
    ("郑州长途汽车客运总站", "LZYTCTD6-21-0511", "车门气泵漏气", "resolved", "normal", 30,
     "bob"),
    ("上海巴士旅游集团有限公司", "LZYTBTD6-24-0202", "仪表盘故障灯报警", "routed", "urgent",
     5, "bob"),
    ("北京首汽旅游客运有限公司", "LZYTBTD6-22-0930", "首保到期保养", "closed", "low", 90,
     "li.na"),
    ("深圳速印打印机维修中心", "MFP3560-2210-0012", "MX-3560 频繁卡纸(过保有偿)", "new",
     "normal", 1, "carol"),
    ("北京中关村科技办公设备有限公司", "LXP4020-2305-0301", "打印有竖线,需更换硒鼓", "routed",
     "normal", 2, "bob"),
    ("广州天河办公设备租赁有限公司", "MFP3560-2402-0231", "无法扫描到邮箱", "closed", "low", 6,
     "alice"),
    ("上海浦东新区政务服务中心", "MFP6070-2312-0005", "双面打印卡纸", "resolved", "normal", 45,
     "wang.lei"),
    ("王芳", "LXP1100-2404-0921", "墨粉盒无法识别", "cancelled", "low", 10, "carol"),
    ("上海外国语大学图书馆", None, "The Economist issues missing (two weeks)", "waiting",
     "normal", 4, "alice"),
]
_STATUS_PATH = {
    "new": ("new",), "routed": ("new", "routed"),
    "accepted": ("new", "routed", "accepted"),
    "on_site": ("new", "routed", "accepted", "on_the_way", "on_site"),
    "waiting": ("new", "routed", "accepted", "waiting"),
    "resolved": ("new", "routed", "accepted", "on_the_way", "on_site", "resolved"),
    "closed": ("new", "routed", "accepted", "on_the_way", "on_site", "resolved", "closed"),
    "cancelled": ("new", "cancelled"),
}
# the time stamp each move sets (crm_core.tickets.STAMPS)
_STAMPS = {"accepted": "accepted_at", "on_site": "arrived_at", "resolved": "resolved_at",
           "closed": "closed_at"}

# The demo's service station and its staff login (issue 15): the network seed creates the
# station BUS-ZHENGZHOU with the rest of the network; when it has not (yet), a minimal one is
# made here, so the station's page has a station to show. The demo's open tickets that
# no routing placed go to it.
# why the demo's tickets already worked on are at the demo station (a person chose it)
DEMO_ROUTING = "演示数据 / demo data"
DEMO_STATION = ("BUS-ZHENGZHOU", "郑州客车服务站", "Zhengzhou coach service station", "河南",
                "郑州")
DEMO_TECHNICIAN = ("张师傅 Zhang", "13800000101")
STATION_USERS: list[tuple[str, str, str]] = [
    ("zz.station", "郑州服务站 Zhengzhou station", "zh-CN"),
]

# opportunities: (customer, title, stage, amount, owner, days ago)
OPPORTUNITIES: list[tuple[str, str, str, int, str, int]] = [
    ("华东医药包装有限公司", "DPH-320 以旧换新(替换2020年机)", "proposal", 680_000, "wang.lei", 20),
    ("VIP 客户 — 国药集团", "铝箔年度供货合同 2025", "qualified", 1_500_000, "li.na", 12),
    ("浙江华海药用包装有限公司", "泡罩包装机首台采购", "lead", 450_000, "wang.lei", 30),
    ("上海巴士旅游集团有限公司", "新增10台ZK6127H旅游客车", "qualified", 8_500_000, "wang.lei", 25),
    ("广东粤运交通股份有限公司", "公交车年度保养合同续签", "won", 600_000, "chen.hao", 18),
    ("杭州西湖国际旅行社", "Coach charter for May conference", "lead", 40_000, "wang.lei", 11),
    ("Chen Jie Trading", "Five MX-4560 copiers for new office", "proposal", 150_000,
     "chen.hao", 30),
    ("复旦大学图书馆", "2025外文图书年度采购", "won", 900_000, "wang.lei", 21),
    ("清华大学图书馆", "Elsevier电子书包续订", "proposal", 1_100_000, "li.na", 5),
    ("南京中北巴士股份有限公司", "城市公交车更新", "lost", 3_000_000, "wang.lei", 120),
]

# subscriptions: (customer, kind, title, start days ago, end in days, status)
SUBSCRIPTIONS: list[tuple[str, str, str, int, int, str]] = [
    ("清华大学图书馆", "subscription", "进口外文期刊 2024-2025 (Nature, Science...)", 355, 10,
     "active"),
    ("复旦大学图书馆", "subscription", "Springer 外文图书长期订单", 300, 65, "active"),
    ("国家图书馆外文采编部", "subscription", "外文报刊年度订阅", 400, -35, "not_renewed"),
    ("中山大学图书馆", "subscription", "Cambridge standing order", 200, 165, "active"),
    ("上海外国语大学图书馆", "subscription", "The Economist / TIME 年度订阅", 362, 3, "active"),
    ("四川大学图书馆", "subscription", "外文期刊订阅 2024", 380, -15, "not_renewed"),
    ("读者杂志社订阅部", "subscription", "《读者》团购订阅 2025", 180, 185, "active"),
    ("三联生活周刊发行部", "subscription", "图书馆渠道订阅合作", 368, -3, "active"),
    ("上海图书馆期刊部", "subscription", "外文期刊订阅 2025", 340, 25, "active"),
    ("深圳市南山区图书馆", "subscription", "期刊年度订阅", 100, 265, "active"),
    ("李明", "subscription", "《读者》年度订阅", 20, 345, "active"),
    ("广州日报报业集团发行中心", "subscription", "发行系统打印机租赁", 800, -70, "not_renewed"),
    ("华东医药包装有限公司", "contract", "泡罩包装机年度维保合同", 340, 25, "active"),
    ("VIP 客户 — 国药集团", "contract", "设备全保服务合同", 200, 530, "active"),
    ("广东粤运交通股份有限公司", "contract", "公交车年度保养合同", 350, 15, "renewed"),
    ("上海浦东新区政务服务中心", "contract", "复印机全包服务(按张计费)", 380, 350, "active"),
    ("广州天河办公设备租赁有限公司", "contract", "租赁设备维修外包", 365, -1, "active"),
]

# The number plan (``ivr_number``): the one 400 and one 800 number, and the old department
# hotlines that still ring; each tagged so the entry-numbers report shows who still dials
# them. Numbers in the plan's canonical form (``ivr.number_plan.canonical_did``; a unit test
# checks it). (number, kind, bilingual label, default queue)
NUMBER_PLAN: list[tuple[str, str, str, str | None]] = [
    ("4008001234", "400", "全国服务热线 / national service hotline", None),
    ("8008001234", "800", "免费服务热线 / toll-free service hotline", None),
    ("02154881234", "legacy", "原打印机维修热线 / old printer repair line", "support"),
    ("4006181234", "legacy", "原期刊订阅热线 / old magazine subscription line", "support"),
    ("01065881234", "legacy", "原进口图书订购热线 / old imported-books order line", "support"),
    ("8008301234", "legacy",
     "原包装设备售后热线 / old packaging machinery after-sales line", "support"),
]


# --- the seed --------------------------------------------------------------------------


@dataclass
class _Seed:
    session: AsyncSession
    today: date
    now: datetime
    name_key: Callable[[str], str]
    users: dict[str, int] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    customers: dict[str, int] = field(default_factory=dict)
    assets: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    station_id: int | None = None

    def count(self, what: str, n: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + n

    def at(self, days_ago: int, hour: int = 10) -> datetime:
        """A business-hours moment ``days_ago`` days back (Shanghai)."""
        day = self.today - timedelta(days=days_ago)
        local = datetime(day.year, day.month, day.day, hour, 30, tzinfo=SHANGHAI)
        return min(local.astimezone(UTC), self.now)


def _name_key() -> Callable[[str], str]:
    try:
        func: Callable[[str], str] = importlib.import_module("crm_core.names").name_key
    except ImportError:
        return lambda name: "".join(name.casefold().split())
    return func


async def _roles(session: AsyncSession) -> dict[str, int]:
    try:
        users_module = importlib.import_module("crm_core.users")
    except ImportError:
        users_module = None
    if users_module is not None and hasattr(users_module, "ensure_roles"):
        ids: dict[str, int] = await users_module.ensure_roles(session)
        return ids
    out: dict[str, int] = {}
    for name in ("agent", "manager", "supervisor", "hotline_supervisor", "admin"):
        role = await session.scalar(select(Role).where(Role.name == name))
        if role is None:
            role = Role(name=name)
            session.add(role)
            await session.flush()
        out[name] = role.id
    return out


def _password_hash() -> str | None:
    try:
        from argon2 import PasswordHasher
    except ImportError:
        return None
    return PasswordHasher().hash(DEMO_PASSWORD)


async def _seed_users(seed: _Seed) -> None:
    roles = await _roles(seed.session)
    existing = {u.username: u for u in await seed.session.scalars(select(User))}
    hashed: str | None = None
    for username, display, role, team, region, lang, interface, agent_name in USERS:
        user = existing.get(username)
        if user is None:
            hashed = hashed or _password_hash()
            user = User(
                username=username, display_name=display, role_id=roles.get(role), team=team,
                region=region, language=lang, agent_interface=interface, agent_name=agent_name,
                is_admin=role == "admin", password_hash=hashed, active=True,
            )
            seed.session.add(user)
            await seed.session.flush()
            seed.count("users")
        elif username in MOVED and user.role_id == roles.get(MOVED[username][0]):
            await _move_role(seed, user, roles[MOVED[username][1]])
        seed.users[username] = user.id


async def _move_role(seed: _Seed, user: User, role_id: int) -> None:
    before = {"role_id": user.role_id, "team": user.team}
    user.role_id, user.team = role_id, "热线"
    await seed.session.flush()
    audit(seed.session, user_id=None, action="seed", entity="app_user", entity_id=user.id,
          before=before, after={"role_id": user.role_id, "team": user.team})


async def _seed_lines(seed: _Seed) -> None:
    existing = {p.code: p.id for p in await seed.session.scalars(select(ProductLine))}
    for code, name, name_en in PRODUCT_LINES:
        if code not in existing:
            line = ProductLine(code=code, name=name, name_en=name_en)
            seed.session.add(line)
            await seed.session.flush()
            existing[code] = line.id
            seed.count("product_lines")
        seed.lines[code] = existing[code]


async def _find_customer(seed: _Seed, demo: DemoCustomer) -> Customer | None:
    key = seed.name_key(demo.name)
    found = await seed.session.scalars(
        select(Customer).where(
            Customer.merged_into_id.is_(None),
            (Customer.name_key == key) | (Customer.name == demo.name),
        ).order_by(Customer.id)
    )
    # one key, places that disagree: 浙江大学图书馆 is not 四川大学图书馆
    return next((c for c in found if c.name == demo.name or same_company(c.name, demo.name)),
                None)


def _customer_values(seed: _Seed, demo: DemoCustomer) -> dict[str, Any]:
    return {
        "kind": demo.kind, "category": demo.category, "industry": demo.industry,
        "source": demo.source, "province": demo.province, "city": demo.city,
        "address": demo.address, "vip_tier": demo.vip_tier,
        "vip_value": Decimal(demo.vip_value) if demo.vip_value is not None else None,
        "status": demo.status,
    }


async def _seed_customer(seed: _Seed, demo: DemoCustomer) -> None:
    customer = await _find_customer(seed, demo)
    values = _customer_values(seed, demo)
    owner_id = seed.users.get(demo.owner) if demo.owner else None
    is_new = customer is None
    if customer is None:
        created = seed.at(demo.created_days_ago)
        customer = Customer(name=demo.name, name_key=seed.name_key(demo.name), **values,
                            created_at=created, updated_at=created)
        seed.session.add(customer)
        seed.count("customers")
    else:
        # a customer of the old 9-row seed: complete it, never overwrite what is set
        for key, value in values.items():
            if getattr(customer, key) in (None, "", 0, "prospect") and value is not None:
                setattr(customer, key, value)
        customer.name_key = customer.name_key or seed.name_key(demo.name)
    if owner_id is not None and customer.owner_id is None:
        since = seed.at(demo.created_days_ago)
        customer.owner_id, customer.owner_since = owner_id, since
        customer.last_touched_at = seed.at(demo.untouched_days or 1)
        await seed.session.flush()
        seed.session.add(OwnershipChange(customer_id=customer.id, from_user_id=None,
                                         to_user_id=owner_id, at=since, reason="create"))
    await seed.session.flush()
    if is_new:
        audit(seed.session, user_id=None, action="seed", entity="customer",
              entity_id=customer.id, after=snapshot(customer))
    seed.customers[demo.name] = customer.id
    await _seed_phones(seed, customer.id, None, demo.phones)
    for contact in demo.contacts:
        await _seed_contact(seed, customer.id, contact)
    for asset in demo.assets:
        await _seed_asset(seed, customer.id, asset)


async def _seed_phones(
    seed: _Seed, customer_id: int, contact_id: int | None, numbers: tuple[str, ...]
) -> None:
    for raw in numbers:
        e164 = normalize(raw)
        if e164 is None:
            continue
        holder = await seed.session.scalar(
            select(PhoneNumber).where(PhoneNumber.number_e164 == e164).limit(1)
        )
        if holder is not None:
            if holder.customer_id == customer_id and holder.contact_id is None and contact_id:
                holder.contact_id = contact_id  # the old seed's number, now the contact's
            continue
        seed.session.add(PhoneNumber(customer_id=customer_id, contact_id=contact_id,
                                     number_e164=e164, raw=raw, kind=_phone_kind(e164)))
        seed.count("phone_numbers")
    await seed.session.flush()


def _phone_kind(e164: str) -> str:
    import phonenumbers

    kind = phonenumbers.number_type(phonenumbers.parse(e164))
    types = phonenumbers.PhoneNumberType
    return {types.MOBILE: "mobile", types.FIXED_LINE: "landline",
            types.TOLL_FREE: "toll-free"}.get(kind, "phone")


async def _seed_contact(seed: _Seed, customer_id: int, demo: DemoContact) -> None:
    contact = await seed.session.scalar(
        select(Contact).where(Contact.customer_id == customer_id, Contact.name == demo.name)
    )
    if contact is None:
        contact = Contact(customer_id=customer_id, name=demo.name, role=demo.role,
                          email=demo.email)
        seed.session.add(contact)
        await seed.session.flush()
        seed.count("contacts")
    await _seed_phones(seed, customer_id, contact.id, demo.phones)


async def _seed_asset(seed: _Seed, customer_id: int, demo: DemoAsset) -> None:
    asset = await seed.session.scalar(select(Asset).where(Asset.serial_number == demo.serial))
    if asset is None:
        asset = Asset(
            customer_id=customer_id, product_line_id=seed.lines[demo.product], model=demo.model,
            serial_number=demo.serial, site=demo.site,
            purchase_date=seed.today - timedelta(days=demo.bought_days_ago),
            warranty_end=seed.today + timedelta(days=demo.warranty_days_left),
            created_at=seed.at(demo.bought_days_ago),
        )
        seed.session.add(asset)
        await seed.session.flush()
        seed.count("assets")
    seed.assets[demo.serial] = asset.id


async def _seed_interactions(seed: _Seed) -> None:
    for name, kind, days, author, place, content, result, next_step, disp in INTERACTIONS:
        cid = seed.customers[name]
        found = await seed.session.scalar(
            select(Interaction.id).where(Interaction.customer_id == cid,
                                         Interaction.content == content)
        )
        if found is None:
            seed.session.add(Interaction(
                customer_id=cid, kind=kind, occurred_at=seed.at(days, 9 + days % 8),
                place=place, content=content, result=result, next_step=next_step,
                disposition=disp, author_id=seed.users.get(author),
            ))
            seed.count("interactions")
    await seed.session.flush()


async def _demo_station(seed: _Seed) -> int:
    """The id of the demo station ``BUS-ZHENGZHOU``: the network seed's, or a minimal one."""
    code, name, name_en, province, city = DEMO_STATION
    found = await seed.session.scalar(select(ServiceStation.id)
                                      .where(ServiceStation.code == code))
    if found is not None:
        return found
    station = ServiceStation(
        code=code, name=name, name_en=name_en, province=province, city=city,
        phones=[], product_lines=[line for line, *_ in PRODUCT_LINES], covers=[],
        hours={d: [["08:30", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")})
    seed.session.add(station)
    await seed.session.flush()
    tech_name, phone = DEMO_TECHNICIAN
    seed.session.add(Technician(station_id=station.id, name=tech_name, phone=phone,
                                skills=[line for line, *_ in PRODUCT_LINES]))
    return station.id


async def _seed_station_staff(seed: _Seed) -> None:
    roles = await _roles(seed.session)
    seed.station_id = await _demo_station(seed)
    for username, display, lang in STATION_USERS:
        user = await seed.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=display, role_id=roles.get("station"),
                        language=lang, password_hash=_password_hash(), active=True)
            seed.session.add(user)
            await seed.session.flush()
            seed.count("users")
        if await seed.session.get(StationUser, user.id) is None:
            seed.session.add(StationUser(user_id=user.id, station_id=seed.station_id))
        seed.users[username] = user.id
    await seed.session.flush()


def _repair_record(ticket: Ticket, at: datetime) -> RepairRecord:
    return RepairRecord(
        ticket_id=ticket.id, fault=ticket.problem, cause="磨损 / wear",
        action="更换部件并试机 / replaced the part and tested",
        parts=[{"part": "维修包 / service kit", "qty": 1}], labour_hours=Decimal("2.50"),
        serial_checked=True, first_time_fix=True, written_at=at)


async def _seed_tickets(seed: _Seed) -> None:
    for name, serial, problem, status, priority, days, creator in TICKETS:
        cid = seed.customers[name]
        day = seed.today - timedelta(days=days)
        found = await seed.session.scalar(
            select(Ticket.id).where(Ticket.customer_id == cid, Ticket.problem == problem)
        )
        if found is not None:
            continue
        # from the day's counter, as every ticket: a ticket created later that day follows
        number = await allocate_number(seed.session, day)
        opened = seed.at(days, 9)
        path = _STATUS_PATH[status]
        step = timedelta(hours=max(1, days * 24 // (len(path) + 1)) if days else 1)
        ticket = Ticket(
            number=number, customer_id=cid, asset_id=seed.assets.get(serial or ""),
            problem=problem, status=status, priority=priority,
            created_by_id=seed.users.get(creator), created_at=opened,
            updated_at=min(opened + step * (len(path) - 1), seed.now),
        )
        if "routed" in path:  # a dispatcher sent the demo's worked tickets to its station
            station = await seed.session.get(ServiceStation, seed.station_id)
            assert station is not None
            dispatch.set_route(ticket, dispatch.override_decision(station, DEMO_ROUTING),
                               opened, DEMO_ROUTING)
        seed.session.add(ticket)
        await seed.session.flush()
        previous: str | None = None
        for i, to_status in enumerate(path):
            at = min(opened + step * i, seed.now)
            seed.session.add(TicketStatusChange(
                ticket_id=ticket.id, from_status=previous, to_status=to_status,
                at=at, by_id=seed.users.get(creator),
            ))
            if to_status == "routed":
                ticket.routed_at = at
            if to_status in _STAMPS:
                setattr(ticket, _STAMPS[to_status], at)
            if to_status == "resolved" and serial is not None:
                seed.session.add(_repair_record(ticket, at))
            previous = to_status
        if status == "new":  # routed as every new ticket is (crm_core.dispatch)
            customer = await seed.session.get(Customer, cid)
            assert customer is not None
            await route_ticket(seed.session, SYSTEM, ticket, customer, ticket.created_at)
        elif status in OPEN_STATUSES and ticket.routed_at is not None:
            # already at the demo station: its SLA clock runs from its routing
            await sla.start_clock(seed.session, ticket,
                                  await seed.session.get(ServiceStation, ticket.station_id),
                                  ticket.routed_at)
        seed.count("tickets")
    await seed.session.flush()


async def _seed_opportunities(seed: _Seed) -> None:
    for name, title, stage, amount, owner, days in OPPORTUNITIES:
        cid = seed.customers[name]
        found = await seed.session.scalar(
            select(Opportunity.id).where(Opportunity.customer_id == cid,
                                         Opportunity.title == title)
        )
        if found is None:
            closed = seed.at(max(days - 10, 0)) if stage in ("won", "lost") else None
            row = Opportunity(
                customer_id=cid, title=title, stage=stage, amount=Decimal(amount),
                owner_id=seed.users.get(owner), created_at=seed.at(days), closed_at=closed,
            )
            seed.session.add(row)
            await seed.session.flush()
            # its stage history (the funnel's time in each stage): created, then the
            # steps to its stage, reached 10 days later when closed, else a third of the way
            reached = max(days - 10, 0) if closed is not None else days * 2 // 3
            seed.session.add_all(demo_sales.history_rows(
                row.id, demo_sales.stage_path(stage, days, reached), seed.at,
                seed.users.get(owner)))
            seed.count("opportunities")
    await seed.session.flush()


async def _seed_subscriptions(seed: _Seed) -> None:
    for name, kind, title, started, ends_in, status in SUBSCRIPTIONS:
        cid = seed.customers[name]
        found = await seed.session.scalar(
            select(Subscription.id).where(Subscription.customer_id == cid,
                                          Subscription.title == title)
        )
        if found is None:
            seed.session.add(Subscription(
                customer_id=cid, kind=kind, title=title,
                start_date=seed.today - timedelta(days=started),
                end_date=seed.today + timedelta(days=ends_in), status=status,
                created_at=seed.at(started),
            ))
            seed.count("subscriptions")
    await seed.session.flush()


# a group SMS of wang.lei's (issue 18 item 4): his customers with an active service
# contract are reminded to renew. Seeded unresolved (``queueing``): the running app's
# outbox worker resolves its recipients and signs their links with the site's own key
DEMO_MAILING = ("维保合同续约提醒", "wang.lei", {"subscription": "active"},
                "【服务热线】尊敬的客户，贵单位的设备维保合同即将到期，续约请致电 400-800-1234。")


async def _seed_mailing(seed: _Seed) -> None:
    name, owner, group, body = DEMO_MAILING
    if await seed.session.scalar(select(Mailing.id).where(Mailing.name == name)) is None:
        seed.session.add(Mailing(name=name, channel="sms", filter=group, body=body,
                                 state="queueing", scope="own", cursor=0,
                                 created_by_id=seed.users[owner], created_at=seed.at(1)))
        seed.count("mailings")
    await seed.session.flush()


async def _seed_number_plan(seed: _Seed) -> None:
    # every number runs the "default" flow: the IVR seeds it (crm_core does not import ivr)
    existing = set(await seed.session.scalars(select(IvrNumber.number)))
    for number, kind, label, queue in NUMBER_PLAN:
        if number not in existing:
            seed.session.add(IvrNumber(number=number, flow_name="default", kind=kind,
                                       label=label, queue=queue, active=True))
            seed.count("ivr_numbers")
    await seed.session.flush()


async def seed_demo(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime | None = None
) -> dict[str, int]:
    """Create whatever of the demo company is missing, in one transaction; returns how
    many records of each kind were created (all zeros on a second run)."""
    moment = now or datetime.now(UTC)
    async with sessionmaker.begin() as session:
        seed = _Seed(session, moment.astimezone(SHANGHAI).date(), moment, _name_key())
        await _seed_users(seed)
        await _seed_lines(seed)
        for what, n in (await seed_network(session)).items():
            seed.count(what, n)
        for demo in CUSTOMERS:
            await _seed_customer(seed, demo)
        await _seed_interactions(seed)
        await _seed_station_staff(seed)
        # the SLA's calendar (China's holidays, adjusted working days) and default
        # policies, before the tickets whose clocks they run
        await load_holidays(session)
        await seed_policies(session)
        await _seed_tickets(seed)
        await _seed_opportunities(seed)
        await _seed_subscriptions(seed)
        await _seed_number_plan(seed)
        # six months of sales pipeline and a big contract (issue 18: crm_core.demo_sales)
        for what, n in (await demo_sales.seed_pipeline(session, customers=seed.customers,
                                                       users=seed.users,
                                                       at=seed.at)).items():
            seed.count(what, n)
        await _seed_mailing(seed)
        # orders and their supplier batches (issue 18: crm_core.demo_orders)
        for what, n in (await seed_orders(session, customers=seed.customers,
                                          users=seed.users, today=seed.today,
                                          at=seed.at)).items():
            seed.count(what, n)
    return {k: seed.created.get(k, 0) for k in (
        "users", "product_lines", "customers", "contacts", "phone_numbers", "assets",
        "interactions", "tickets", "opportunities", "subscriptions", "ivr_numbers",
        "stations", "technicians", "suppliers", "supplier_batches", "orders", "order_lines",
        "mailings",
    )}
