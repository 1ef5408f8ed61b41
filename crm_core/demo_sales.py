"""The demo's sales pipeline (issue 18 item 3): six months of opportunities for the three
account managers (wang.lei 华东, li.na 华北, chen.hao 华南) moving through the stages with
their stage history, so the funnel page has a realistic shape (most leads never get
qualified, about one proposal in two is won, a few deals lost late, one reopened), and a
big contract won three days ago that the managers' home page shows.

Rules:
- idempotent: an opportunity is known by (customer, title); its history is written with
  it, once;
- deterministic: the deals come from a fixed table and a seeded ``random.Random``, days
  relative to the seed's ``at``;
- ``stage_path`` (pure) spreads a deal's steps from the day it was created to the day it
  reached its stage; the demo's older opportunities (``crm_core.demo_data``) get theirs
  from it too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import Opportunity, OpportunityStageChange

CHAIN = ("lead", "qualified", "proposal", "won")

# (customer, salesman, what): the deals' customers, each with its account manager
ACCOUNTS: list[tuple[str, str, str]] = [
    ("复旦大学图书馆", "wang.lei", "外文图书年度采购 Foreign books, annual order"),
    ("浙江大学图书馆", "wang.lei", "理工科原版教材 Science textbooks"),
    ("上海外国语大学图书馆", "wang.lei", "语言学专著 Linguistics monographs"),
    ("上海巴士旅游集团有限公司", "wang.lei", "客车配件框架协议 Coach parts framework"),
    ("华东医药包装有限公司", "wang.lei", "泡罩机备件 Blister machine spares"),
    ("清华大学图书馆", "li.na", "电子书包 E-book package"),
    ("北京博文进口图书有限公司", "li.na", "进口图书分销 Imported books distribution"),
    ("宇通客车服务站(郑州)", "li.na", "变速箱配件 Gearbox parts"),
    ("郑州长途汽车客运总站", "li.na", "客车保养配件 Coach service parts"),
    ("国家图书馆外文采编部", "li.na", "外文报刊 Foreign periodicals"),
    ("中山大学图书馆", "chen.hao", "医学原版图书 Medical books"),
    ("深圳速印打印机维修中心", "chen.hao", "打印机耗材年度合同 Printer supplies"),
    ("广东粤运交通股份有限公司", "chen.hao", "公交车配件 City bus parts"),
]
MONTHS = 6
DEALS_PER_ACCOUNT = 4
# the big contract of the managers' home page: won BIG_DAYS_AGO days ago
BIG = ("上海巴士旅游集团有限公司", "wang.lei",
       "30台旅游客车三年维保合同 Three-year service contract, 30 coaches", 2_400_000, 3)
# a deal won, reopened (the customer changed the scope) and won again: counted once
REOPENED = ("复旦大学图书馆", "wang.lei", "Springer 电子期刊 Springer e-journals", 320_000,
            [("lead", 95), ("qualified", 85), ("proposal", 70), ("won", 55), ("proposal", 50),
             ("won", 30)])


def stage_path(stage: str, created: int, reached: int) -> list[tuple[str, int]]:
    """The steps (stage, days ago) of a deal created ``created`` days ago that reached
    ``stage`` ``reached`` days ago: through the chain to it (``lost`` after the stage
    before it was lost at, here ``qualified``), evenly spaced."""
    if stage == "lost":
        names = ["lead", "qualified", "lost"]
    else:
        names = list(CHAIN[:CHAIN.index(stage) + 1])
    if len(names) == 1:
        return [(names[0], created)]
    span = max(created - reached, 0)
    return [(name, created - round(span * i / (len(names) - 1)))
            for i, name in enumerate(names)]


def _outcome(rng: random.Random) -> str:
    # most leads go no further; of the proposals, about one in two is won
    return rng.choices(["lead", "qualified", "proposal", "won", "lost"],
                       weights=[30, 20, 15, 22, 13])[0]


def deals(rng: random.Random) -> list[tuple[str, str, str, str, int, int, int]]:
    """(customer, salesman, title, stage, amount, created days ago, reached days ago)."""
    out = []
    for customer, salesman, what in ACCOUNTS:
        for n in range(DEALS_PER_ACCOUNT):
            created = rng.randint(5, MONTHS * 30)
            stage = _outcome(rng)
            reached = rng.randint(0, created) if stage != "lead" else created
            amount = rng.choice([18, 35, 60, 85, 120, 240, 480]) * 1000
            out.append((customer, salesman, f"{what} #{n + 1}", stage, amount, created,
                        reached))
    customer, salesman, title, amount, days = BIG
    out.append((customer, salesman, title, "won", amount, days + 40, days))
    return out


def history_rows(opportunity_id: int, path: list[tuple[str, int]],
                 at: Callable[[int], datetime], by: int | None
                 ) -> list[OpportunityStageChange]:
    rows = []
    before: str | None = None
    for stage, days in path:
        rows.append(OpportunityStageChange(opportunity_id=opportunity_id, from_stage=before,
                                           to_stage=stage, at=at(days), by_id=by))
        before = stage
    return rows


async def seed_pipeline(session: AsyncSession, *, customers: dict[str, int],
                        users: dict[str, int], at: Callable[[int], datetime]
                        ) -> dict[str, int]:
    """Create whatever of the demo's pipeline is missing; how many deals were created."""
    made = 0
    wanted = [(c, s, t, amount, stage_path(stage, created, reached))
              for c, s, t, stage, amount, created, reached in deals(random.Random(18))]
    wanted.append(REOPENED)
    for customer, salesman, title, amount, path in wanted:
        cid = customers.get(customer)
        if cid is None or await session.scalar(select(Opportunity.id).where(
                Opportunity.customer_id == cid, Opportunity.title == title)) is not None:
            continue
        stage = path[-1][0]
        owner = users.get(salesman)
        row = Opportunity(customer_id=cid, title=title, stage=stage,
                          amount=Decimal(amount), owner_id=owner, created_at=at(path[0][1]),
                          closed_at=at(path[-1][1]) if stage in ("won", "lost") else None)
        session.add(row)
        await session.flush()
        session.add_all(history_rows(row.id, path, at, owner))
        made += 1
    await session.flush()
    return {"opportunities": made}
