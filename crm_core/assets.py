"""Assets (products a customer owns, by serial number) and the product lines.

Rules:
- module ``assets``; the scope is the customer's;
- a serial number is required, trimmed, and unique across all customers: a
  second one is ``ValidationFailed("serial_number", ...)`` (also when two
  creates race: the unique index decides, and the error names the field);
- the product line is given by its ``code`` (``product_line``), unknown code ->
  ``ValidationFailed("product_line", ...)``;
- ``warranty_end`` may not be before ``purchase_date``;
- product lines are the catalogue: anyone with ``assets`` read lists them, only
  an administrator adds one (codes unique);
- every write is audited and touches the customer when its owner does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import audit, snapshot
from crm_core.errors import ValidationFailed
from crm_core.models import Asset, ProductLine
from crm_core.permissions import Actor, PermissionDenied, require
from crm_core.records import (
    DEFAULT_PAGE,
    a_date,
    check_fields,
    current,
    delete_row,
    list_records,
    load_customer,
    load_record,
    required_text,
    save_changes,
    text,
    to_dict,
    touch,
)

ASSET_UPDATE_FIELDS = (
    "serial_number", "product_line", "model", "purchase_date", "warranty_end", "site",
)


# --- product lines -------------------------------------------------------------------------


async def list_product_lines(session: AsyncSession, actor: Actor) -> list[dict[str, Any]]:
    """The whole catalogue, by code."""
    require(actor, "assets", "read")
    rows = await session.scalars(select(ProductLine).order_by(ProductLine.code))
    return [to_dict(r) for r in rows]


async def create_product_line(
    session: AsyncSession, actor: Actor, *, code: str, name: str, name_en: str | None = None
) -> dict[str, Any]:
    """A new product line (administrators only)."""
    if not actor.is_admin:
        raise PermissionDenied("product_lines", "create")
    clean_code = required_text(code, "code", max_len=50)
    line = ProductLine(
        code=clean_code, name=required_text(name, "name", max_len=200),
        name_en=text(name_en, "name_en", max_len=200),
    )
    if await session.scalar(select(ProductLine.id).where(ProductLine.code == clean_code)):
        raise ValidationFailed("code", f"{clean_code!r} exists already")
    session.add(line)
    await session.flush()
    audit(session, user_id=actor.user_id, action="create", entity="product_line",
          entity_id=line.id, after=to_dict(line))
    return to_dict(line)


async def _product_line_id(session: AsyncSession, code: object) -> int | None:
    clean = text(code, "product_line", max_len=50)
    if clean is None:
        return None
    found = await session.scalar(select(ProductLine.id).where(ProductLine.code == clean))
    if found is None:
        raise ValidationFailed("product_line", f"unknown product line {clean!r}")
    return found


# --- assets --------------------------------------------------------------------------------


def _check_dates(purchase: date | None, warranty_end: date | None) -> None:
    if purchase is not None and warranty_end is not None and warranty_end < purchase:
        raise ValidationFailed("warranty_end", "before the purchase date")


async def _check_serial(session: AsyncSession, serial: str, asset_id: int | None) -> None:
    other = await session.scalar(select(Asset.id).where(Asset.serial_number == serial))
    if other is not None and other != asset_id:
        raise ValidationFailed("serial_number", f"{serial!r} is already registered")


async def _flush_serial(session: AsyncSession, serial: str) -> None:
    try:
        await session.flush()
    except sa_exc.IntegrityError:
        # a concurrent create won the race for this serial; the caller's transaction
        # is rolled back as this error propagates
        raise ValidationFailed("serial_number", f"{serial!r} is already registered") from None


async def _asset_dict(session: AsyncSession, asset: Asset) -> dict[str, Any]:
    code = None
    if asset.product_line_id is not None:
        code = await session.scalar(
            select(ProductLine.code).where(ProductLine.id == asset.product_line_id)
        )
    return to_dict(asset, product_line=code)


async def create_asset(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    serial_number: str,
    product_line: str | None = None,
    model: str | None = None,
    purchase_date: date | str | None = None,
    warranty_end: date | str | None = None,
    site: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Register a product of ``customer_id`` by its (unique) serial number."""
    serial = required_text(serial_number, "serial_number", max_len=100)
    purchased = a_date(purchase_date, "purchase_date")
    warranty = a_date(warranty_end, "warranty_end")
    _check_dates(purchased, warranty)
    clean_model = text(model, "model", max_len=200)
    clean_site = text(site, "site", max_len=500)
    customer = await load_customer(session, actor, customer_id, "assets", "create")
    line_id = await _product_line_id(session, product_line)
    await _check_serial(session, serial, None)
    asset = Asset(
        customer_id=customer.id, product_line_id=line_id, model=clean_model,
        serial_number=serial, purchase_date=purchased, warranty_end=warranty, site=clean_site,
    )
    session.add(asset)
    await _flush_serial(session, serial)
    touch(customer, actor, current(now))
    view = await _asset_dict(session, asset)
    audit(session, user_id=actor.user_id, action="create", entity="asset",
          entity_id=asset.id, after=view)
    return view


async def get_asset(session: AsyncSession, actor: Actor, asset_id: int) -> dict[str, Any]:
    """One asset whose customer is in the read scope."""
    asset, _ = await load_record(session, actor, Asset, asset_id, "assets", "read")
    return await _asset_dict(session, asset)


async def list_assets(
    session: AsyncSession,
    actor: Actor,
    customer_id: int,
    *,
    limit: int = DEFAULT_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """The assets of one customer, oldest first (each as ``get_asset`` gives it)."""
    await load_customer(session, actor, customer_id, "assets", "read")
    result = await list_records(
        session, actor, Asset, "assets", customer_id=customer_id, limit=limit, offset=offset
    )
    # the product line by its code, as everywhere else (the id means nothing to a client)
    line_ids = {i["product_line_id"] for i in result["items"] if i["product_line_id"]}
    codes: dict[int, str] = {}
    if line_ids:
        rows = await session.execute(
            select(ProductLine.id, ProductLine.code).where(ProductLine.id.in_(line_ids))
        )
        codes = {int(line_id): str(code) for line_id, code in rows}
    for item in result["items"]:
        item["product_line"] = codes.get(item["product_line_id"])
    return result


async def update_asset(
    session: AsyncSession,
    actor: Actor,
    asset_id: int,
    changes_: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Partial update of ``ASSET_UPDATE_FIELDS``; audited with before/after."""
    check_fields(changes_, ASSET_UPDATE_FIELDS)
    asset, customer = await load_record(session, actor, Asset, asset_id, "assets", "update")
    before = snapshot(asset)
    for key, value in changes_.items():
        if key == "serial_number":
            serial = required_text(value, key, max_len=100)
            await _check_serial(session, serial, asset.id)
            asset.serial_number = serial
        elif key == "product_line":
            asset.product_line_id = await _product_line_id(session, value)
        elif key in ("purchase_date", "warranty_end"):
            setattr(asset, key, a_date(value, key))
        elif key == "model":
            asset.model = text(value, key, max_len=200)
        elif key == "site":
            asset.site = text(value, key, max_len=500)
    _check_dates(asset.purchase_date, asset.warranty_end)
    await _flush_serial(session, asset.serial_number)
    await save_changes(session, actor, asset, customer, before, entity="asset", at=current(now))
    return await _asset_dict(session, asset)


async def delete_asset(session: AsyncSession, actor: Actor, asset_id: int) -> None:
    """Delete an asset (``assets`` delete grant)."""
    asset, _ = await load_record(session, actor, Asset, asset_id, "assets", "delete")
    await delete_row(session, actor, asset, entity="asset")
