"""The CRM records: customers (search, export, merge), phone numbers, contacts,
assets, interactions (+ addenda), tickets (+ status), opportunities,
subscriptions, users, reminders.

Rules:
- every handler calls exactly one crm_core service with the request's actor; the
  services own validation, permissions, data scope and audit; the bodies here
  give the types (so the OpenAPI document describes them and absurd values are a
  422 before any SQL), the services re-check the business rules;
- PATCH passes only the fields the client sent (``exclude_unset``);
- a handler that only hands the path id (plus page or body) to the service of the
  same name is built by ``_on_id``/``_listing``/``_creating``/``_patching``, named
  like that service (the name is the OpenAPI operation id);
- records are answered as the service's dicts (``Record``: ``id`` plus the
  record's columns, documented as open objects).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool

from agent_console.api.auth import AUTH
from agent_console.api.console import states_of
from agent_console.api.downloads import file_response
from agent_console.api.routing import Call, Download, Handler, Routes
from agent_console.api.schemas import MAX_ID, Body, Id, IdPath, Out, Page, PageQuery, Query, Text
from crm_core import (
    account_managers,
    assets,
    contacts,
    customers,
    duplicates,
    intake,
    interactions,
    opportunities,
    reminders,
    search,
    subscriptions,
    tickets,
    users,
)
from crm_core.caller_checks import CallerClaim
from crm_core.errors import ValidationFailed
from crm_core.exporter import CUSTOMER_COLUMNS, customer_rows
from crm_core.reports import CustomerFilter
from ivr import callback_notes

Short = Text  # names, codes: the services cap their lengths
Money = Decimal  # the services check precision; pydantic checks it is a number


class Record(Out):
    """A record as the service returns it (its columns, plus related names)."""

    model_config = ConfigDict(extra="allow")
    id: int


class Items(Out):
    items: list[Record]


class Done(Out):
    model_config = ConfigDict(extra="allow")


OptId = int | None
_ID = Field(default=None, ge=1, le=MAX_ID)


# --- bodies ---------------------------------------------------------------------------


class CustomerIn(Body):
    name: Short = Field(min_length=1, max_length=200)
    numbers: list[Text] = Field(default_factory=list, max_length=20)
    kind: Literal["company", "person"] = "company"
    category: Short | None = None
    industry: Short | None = None
    source: Short | None = None
    province: Short | None = None
    city: Short | None = None
    address: Text | None = None
    vip_tier: int = Field(default=0, ge=0, le=5)
    vip_value: Money | None = Field(default=None, ge=0, le=10**12)
    status: Literal["prospect", "active", "dormant", "lost"] = "prospect"
    owner_id: OptId = Field(default=None, ge=1, le=MAX_ID, description=(
        "the account manager; left out: the creator when their customers create scope "
        "is narrower than all, else the account manager of the province (the least "
        "loaded of several), else the shared pool (crm_core.account_managers)"))
    contact_name: Short | None = Field(default=None, max_length=100, description=(
        "the person on the phone: made a contact of the customer, the numbers theirs"))
    contact_role: Short | None = Field(default=None, max_length=100)
    note: Text | None = Field(default=None, max_length=4000,
                              description="kept as a note interaction on the customer")


class RegionManager(Out):
    id: int
    display_name: str | None = None


class Region(Out):
    region: str
    name_en: str
    manager: RegionManager | None = None


class Regions(Out):
    """Who a new customer goes to, per province (crm_core.account_managers)."""

    creator_keeps: bool
    items: list[Region]


class CustomerPatch(Body):
    name: Short | None = Field(default=None, min_length=1, max_length=200)
    kind: Literal["company", "person"] | None = None
    category: Short | None = None
    industry: Short | None = None
    source: Short | None = None
    province: Short | None = None
    city: Short | None = None
    address: Text | None = None
    vip_tier: int | None = Field(default=None, ge=0, le=5)
    vip_value: Money | None = Field(default=None, ge=0, le=10**12)
    status: Literal["prospect", "active", "dormant", "lost"] | None = None


class PhoneIn(Body):
    number: Text = Field(min_length=1, max_length=64)
    kind: Short | None = None
    contact_id: OptId = _ID


class MergeIn(Body):
    merge_id: Id = Field(description="the duplicate, merged INTO this customer")


class ContactIn(Body):
    name: Short = Field(min_length=1, max_length=200)
    role: Short | None = None
    email: Short | None = None
    notes: Text | None = None
    numbers: list[Text] = Field(default_factory=list, max_length=20)


class ContactPatch(Body):
    name: Short | None = Field(default=None, min_length=1, max_length=200)
    role: Short | None = None
    email: Short | None = None
    notes: Text | None = None


class AssetIn(Body):
    serial_number: Short = Field(min_length=1, max_length=100)
    product_line: Short | None = Field(default=None, description="product line code")
    model: Short | None = None
    purchase_date: date | None = None
    warranty_end: date | None = None
    site: Short | None = None


class AssetPatch(Body):
    serial_number: Short | None = Field(default=None, min_length=1, max_length=100)
    product_line: Short | None = None
    model: Short | None = None
    purchase_date: date | None = None
    warranty_end: date | None = None
    site: Short | None = None


class InteractionIn(Body):
    kind: Literal["call", "visit", "note", "email"]
    content: Text = ""
    occurred_at: datetime | None = Field(
        default=None, description="default now; at most 1 h ahead, and not before today "
                                  "(Asia/Shanghai) or 2 h ago unless a correction")
    correction: StrictBool = Field(
        default=False, description="log an interaction of an earlier (closed) day: needs "
                                   "interactions:update at scope team, region or all "
                                   "(403 otherwise); audited as create-correction")
    place: Short | None = None
    result: Text | None = None
    next_step: Text | None = None
    disposition: Short | None = None
    contact_id: OptId = _ID
    call_linkedid: Short | None = None


class InteractionPatch(Body):
    content: Text | None = None
    place: Short | None = None
    result: Text | None = None
    next_step: Text | None = None
    disposition: Short | None = None


class AddendumIn(Body):
    content: Text = Field(min_length=1)


class VerificationIn(Body):
    method: Literal["number", "question", "not_verified"] = Field(
        description="number: the caller's number is on record for the customer or one of "
                    "its contacts (the call's number when the server knows the call, else "
                    "`number`); question: `answer` is the last four characters of one of "
                    "the customer's assets' serial numbers (never stored nor echoed); "
                    "not_verified: `reason` says why (the ticket is flagged)")
    number: Text | None = Field(default=None, max_length=40,
                                description="the caller's number, when no call is known")
    answer: Text | None = Field(default=None, max_length=40)
    reason: Text | None = Field(default=None, max_length=1000)


class TicketIn(Body):
    problem: Text | None = Field(default=None, min_length=1,
                                 description="required unless a title is given")
    # the console's pop form: title (+ description) make the problem
    title: Short | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = None
    category: Short | None = Field(default=None, max_length=40, description="e.g. repair")
    call_linkedid: Short | None = Field(default=None, max_length=100,
                                        pattern=r"^[0-9A-Za-z._:-]+$")
    priority: Short = "normal"
    asset_id: OptId = _ID
    contact_id: OptId = _ID
    force: StrictBool = Field(
        default=False, description="open a repair of an asset that already has an open "
                                   "repair ticket anyway (else 409 duplicate_ticket naming "
                                   "it); the audit entry records which one it duplicates")
    station_id: OptId = Field(default=None, ge=1, le=MAX_ID,
                              description="send it to this station instead of the routing "
                                          "rules' choice (override_reason required)")
    override_reason: Text | None = Field(default=None, min_length=1, max_length=1000,
                                         description="why a person chose station_id")
    verification: VerificationIn | None = Field(
        default=None, description="how the caller was verified: required for category "
                                  "complaint (else 422 caller_not_verified)")


class TicketPatch(Body):
    problem: Text | None = Field(default=None, min_length=1)
    priority: Short | None = None
    asset_id: OptId = _ID
    contact_id: OptId = _ID


class StatusIn(Body):
    status: Short = Field(min_length=1, max_length=40)
    note: Text | None = None


class OpportunityIn(Body):
    title: Short = Field(min_length=1, max_length=200)
    stage: Short = "lead"
    amount: Money | None = Field(default=None, ge=0, le=10**12)


class OpportunityPatch(Body):
    title: Short | None = Field(default=None, min_length=1, max_length=200)
    stage: Short | None = None
    amount: Money | None = Field(default=None, ge=0, le=10**12)


class SubscriptionIn(Body):
    title: Short = Field(min_length=1, max_length=200)
    start_date: date
    end_date: date
    kind: Literal["subscription", "contract"] = "subscription"
    status: Literal["active", "renewed", "not_renewed", "cancelled"] = "active"


class SubscriptionPatch(Body):
    title: Short | None = Field(default=None, min_length=1, max_length=200)
    start_date: date | None = None
    end_date: date | None = None
    kind: Literal["subscription", "contract"] | None = None
    status: Literal["active", "renewed", "not_renewed", "cancelled"] | None = None


class UserIn(Body):
    username: Short = Field(min_length=1, max_length=150)
    display_name: Short = Field(min_length=1, max_length=200)
    role: Short = Field(min_length=1, max_length=100)
    team: Short | None = None
    region: Short | None = None
    language: Literal["zh-CN", "en"] = "zh-CN"
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    agent_interface: Short | None = None
    agent_name: Short | None = None


class UserPatch(Body):
    display_name: Short | None = Field(default=None, min_length=1, max_length=200)
    role: Short | None = None
    team: Short | None = None
    region: Short | None = None
    language: Literal["zh-CN", "en"] | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    current_password: str | None = Field(
        default=None, max_length=1024,
        description="required to change one's own password (a stolen session can't)",
    )
    agent_interface: Short | None = None
    agent_name: Short | None = None
    active: StrictBool | None = None  # "no" or 0 must not deactivate anybody


# --- queries --------------------------------------------------------------------------


class CustomerSearch(PageQuery):
    q: Text | None = Field(default=None, max_length=200, description="name, phone, serial...")
    name: Text | None = Field(default=None, max_length=200)
    phone: Text | None = Field(default=None, max_length=64, description="any format")
    serial: Text | None = Field(default=None, max_length=100)
    ticket: Text | None = Field(default=None, max_length=100)
    status: Literal["prospect", "active", "dormant", "lost"] | None = None
    owner_id: int | None = _ID
    format: Literal["json", "csv", "xlsx"] = "json"


class TicketList(PageQuery):
    customer_id: int | None = _ID
    status: Text | None = Field(default=None, max_length=40)
    open_only: bool = False
    number: Text | None = Field(default=None, max_length=100, description="exact ticket number")


class OpportunityList(PageQuery):
    customer_id: int | None = _ID
    open_only: bool = False


class UserList(PageQuery):
    active: bool | None = None
    team: Text | None = Field(default=None, max_length=100)


class ReminderQuery(Query):
    within_days: int = Field(default=30, ge=0, le=366)


# --- handlers -------------------------------------------------------------------------


def _body(call: Call) -> dict[str, Any]:
    return dict(call.body.model_dump(exclude_unset=True))


def _page(call: Call) -> dict[str, int]:
    return {"limit": call.query.limit, "offset": call.query.offset}


# Most handlers only pass the path id (and the page, or the body) to the service of
# the same name: these build them, named like the service (the name is the OpenAPI
# operation id).
Service = Callable[..., Awaitable[Any]]


def _named(handler: Handler, service: Service) -> Handler:
    handler.__name__ = handler.__qualname__ = service.__name__
    return handler


def _on_id(service: Service) -> Handler:
    """``service(db, me, id)``: get, delete."""
    async def handler(call: Call) -> Any:
        return await service(call.db, call.me, call.path.id)
    return _named(handler, service)


def _listing(service: Service) -> Handler:
    """``service(db, me, customer id, limit=, offset=)``: a customer's records."""
    async def handler(call: Call) -> Any:
        return await service(call.db, call.me, call.path.id, **_page(call))
    return _named(handler, service)


def _creating(service: Service) -> Handler:
    """``service(db, me, customer id, **body)``: a new record of a customer."""
    async def handler(call: Call) -> Any:
        return await service(call.db, call.me, call.path.id, **_body(call))
    return _named(handler, service)


def _patching(service: Service) -> Handler:
    """``service(db, me, id, fields sent)``: a partial update."""
    async def handler(call: Call) -> Any:
        return await service(call.db, call.me, call.path.id, _body(call))
    return _named(handler, service)


get_customer = _on_id(customers.get_customer)
update_customer = _patching(customers.update_customer)
delete_customer = _on_id(customers.delete_customer)
list_contacts = _listing(contacts.list_contacts)
create_contact = _creating(contacts.create_contact)
get_contact = _on_id(contacts.get_contact)
update_contact = _patching(contacts.update_contact)
delete_contact = _on_id(contacts.delete_contact)
list_assets = _listing(assets.list_assets)
create_asset = _creating(assets.create_asset)
get_asset = _on_id(assets.get_asset)
update_asset = _patching(assets.update_asset)
delete_asset = _on_id(assets.delete_asset)
create_interaction = _creating(interactions.create_interaction)
get_interaction = _on_id(interactions.get_interaction)
update_interaction = _patching(interactions.update_interaction)
get_ticket = _on_id(tickets.get_ticket)
update_ticket = _patching(tickets.update_ticket)
create_opportunity = _creating(opportunities.create_opportunity)
get_opportunity = _on_id(opportunities.get_opportunity)
update_opportunity = _patching(opportunities.update_opportunity)
delete_opportunity = _on_id(opportunities.delete_opportunity)
list_subscriptions = _listing(subscriptions.list_subscriptions)
create_subscription = _creating(subscriptions.create_subscription)
get_subscription = _on_id(subscriptions.get_subscription)
update_subscription = _patching(subscriptions.update_subscription)
delete_subscription = _on_id(subscriptions.delete_subscription)
get_user = _on_id(users.get_user)
deactivate_user = _on_id(users.deactivate_user)


async def list_customers(call: Call) -> Any:
    q: CustomerSearch = call.query
    if q.format != "json":
        # the file holds what the same search lists (all pages), in the export scope
        found = search.criteria(q=q.q, name=q.name, phone=q.phone, serial=q.serial,
                                ticket=q.ticket)
        rows = customer_rows(call.db, call.me, CustomerFilter(status=q.status,
                                                              owner_id=q.owner_id),
                             criteria=found)
        return await file_response(rows, CUSTOMER_COLUMNS, q.format, name="customers",
                                   lang=call.me.language)
    return await search.search_customers(
        call.db, call.me, q=q.q, name=q.name, phone=q.phone, serial=q.serial, ticket=q.ticket,
        status=q.status, owner_id=q.owner_id, limit=q.limit, offset=q.offset)


async def list_interactions(call: Call) -> Any:
    found = await interactions.list_interactions(call.db, call.me, call.path.id, **_page(call))
    # the notes a callback left, as facts the page puts in the reader's language
    await callback_notes.describe(call.db, found["items"])
    return found


async def create_customer(call: Call) -> Any:
    rules = call.request.config_dict[AUTH].config.ownership  # the creator's claim is capped
    return await intake.take_in_customer(call.db, call.me, rules=rules, **_body(call))


async def list_regions(call: Call) -> Any:
    return await account_managers.region_table(call.db, call.me)


async def merge_customer(call: Call) -> Any:
    return await duplicates.merge_customers(call.db, call.me, keep_id=call.path.id,
                                            merge_id=call.body.merge_id)


async def list_phones(call: Call) -> Any:
    await customers.get_customer(call.db, call.me, call.path.id)  # scope check
    return {"items": await customers.phone_numbers(call.db, call.path.id)}


async def add_phone(call: Call) -> Any:
    return await customers.add_phone_number(call.db, call.me, call.path.id, **_body(call))


async def delete_phone(call: Call) -> None:
    await customers.remove_phone_number(call.db, call.me, call.path.id)


async def add_addendum(call: Call) -> Any:
    return await interactions.add_addendum(call.db, call.me, call.path.id, call.body.content)


async def create_ticket(call: Call) -> Any:
    data = _body(call)
    title, description = data.pop("title", None), data.pop("description", None)
    if data.get("problem") is None:
        if not title:
            raise ValidationFailed("problem", "give the problem, or a title")
        data["problem"] = f"{title}\n\n{description}" if description else title
    data.pop("verification", None)
    return await tickets.create_ticket(call.db, call.me, call.path.id,
                                       caller=_caller_claim(call), **data)


def _caller_claim(call: Call) -> CallerClaim | None:
    """The body's verification, with the live call's number when the console's board
    has the call (the server's word, not the agent's)."""
    v: VerificationIn | None = call.body.verification
    if v is None:
        return None
    live = None
    states, linkedid = states_of(call), call.body.call_linkedid
    if v.method == "number" and states is not None and linkedid:
        live = next((view.call.caller for view in states.board.views()
                     if view.call is not None and view.call.linkedid == linkedid), None)
    return CallerClaim(method=v.method, number=v.number, call_number=live, answer=v.answer,
                       reason=v.reason)


async def list_tickets(call: Call) -> Any:
    q: TicketList = call.query
    if q.number is not None:
        ticket = await tickets.get_ticket_by_number(call.db, call.me, q.number)
        return {"items": [ticket], "total": 1, "limit": q.limit, "offset": q.offset}
    return await tickets.list_tickets(call.db, call.me, customer_id=q.customer_id,
                                      status=q.status, open_only=q.open_only, **_page(call))


async def change_ticket_status(call: Call) -> Any:
    body: StatusIn = call.body
    return await tickets.change_ticket_status(call.db, call.me, call.path.id, body.status,
                                              note=body.note)


async def list_opportunities(call: Call) -> Any:
    q: OpportunityList = call.query
    return await opportunities.list_opportunities(
        call.db, call.me, customer_id=q.customer_id, open_only=q.open_only, **_page(call))


def _with_hash(call: Call, data: dict[str, Any]) -> dict[str, Any]:

    password = data.pop("password", None)
    if password is not None:
        data["password_hash"] = call.request.config_dict[AUTH].hasher.hash(password)
    return data


async def list_users(call: Call) -> Any:
    q: UserList = call.query
    return await users.list_users(call.db, call.me, active=q.active, team=q.team, **_page(call))


async def create_user(call: Call) -> Any:
    return await users.create_user(call.db, call.me, **_with_hash(call, _body(call)))


async def update_user(call: Call) -> Any:
    data = _body(call)
    current = data.pop("current_password", None)
    if "password" in data and call.path.id == call.me.user_id:
        await _check_current_password(call, current)
    return await users.update_user(call.db, call.me, call.path.id, _with_hash(call, data))


async def _check_current_password(call: Call, current: str | None) -> None:
    login = await users.find_login(call.db, call.me.username)
    auth = call.request.config_dict[AUTH]
    if current is None or login is None or not await auth.verify(login.password_hash, current):
        raise ValidationFailed("current_password", "needed, and must match, to change it")


async def list_reminders(call: Call) -> Any:
    items = await reminders.upcoming(call.db, call.me, within_days=call.query.within_days,
                                     today=reminders.business_today())
    return {"items": items}


class Reminder(Out):
    model_config = ConfigDict(extra="allow")
    kind: str
    id: int
    date: str
    days_left: int


class Reminders(Out):
    items: list[Reminder]


# --- the table --------------------------------------------------------------------------

_CRUD = (400, 401, 403, 404, 409, 422)


def _collection(routes: Routes, base: str, tag: str, list_h: Any, create_h: Any,
                body: type[Body], *, query: type[Query] = PageQuery) -> None:
    routes.add("GET", f"/customers/{{id}}/{base}", list_h, tag=tag,
               summary=f"The customer's {base}", path_model=IdPath, query_model=query,
               response_model=Page[Record])
    routes.add("POST", f"/customers/{{id}}/{base}", create_h, tag=tag,
               summary=f"Add one of the customer's {base}", path_model=IdPath, body_model=body,
               response_model=Record, status=201)


def _item(routes: Routes, base: str, tag: str, get_h: Any, patch_h: Any, patch: type[Body],
          delete_h: Any | None) -> None:
    routes.add("GET", f"/{base}/{{id}}", get_h, tag=tag, summary=f"One of the {base}",
               path_model=IdPath, response_model=Record)
    routes.add("PATCH", f"/{base}/{{id}}", patch_h, tag=tag, summary=f"Change one of the {base}",
               path_model=IdPath, body_model=patch, response_model=Record)
    if delete_h is not None:
        routes.add("DELETE", f"/{base}/{{id}}", delete_h, tag=tag,
                   summary=f"Delete one of the {base}", path_model=IdPath, status=204)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/customers", list_customers, tag="customers",
               summary="Search customers (name, phone in any format, serial, ticket); "
                       "?format=csv|xlsx exports every match (needs customers:export)",
               query_model=CustomerSearch, response_model=Page[Record], download=Download())
    routes.add("POST", "/customers", create_customer, tag="customers",
               summary="Create a customer, with the person on the phone and a note (409 with "
                       "the existing one if it is a duplicate)",
               body_model=CustomerIn, response_model=Record, status=201)
    routes.add("GET", "/regions", list_regions, tag="customers",
               summary="Who a customer created now goes to, per province (needs "
                       "customers:create)", response_model=Regions)
    routes.add("GET", "/customers/{id}", get_customer, tag="customers", summary="A customer",
               path_model=IdPath, response_model=Record)
    routes.add("PATCH", "/customers/{id}", update_customer, tag="customers",
               summary="Change a customer", path_model=IdPath, body_model=CustomerPatch,
               response_model=Record)
    routes.add("DELETE", "/customers/{id}", delete_customer, tag="customers",
               summary="Delete a customer", path_model=IdPath, status=204)
    routes.add("POST", "/customers/{id}/merge", merge_customer, tag="customers",
               summary="Merge a duplicate into this customer (keeps every record)",
               path_model=IdPath, body_model=MergeIn, response_model=Done)
    routes.add("GET", "/customers/{id}/phones", list_phones, tag="customers",
               summary="The customer's phone numbers", path_model=IdPath, response_model=Items)
    routes.add("POST", "/customers/{id}/phones", add_phone, tag="customers",
               summary="Add a phone number (any format; normalised)", path_model=IdPath,
               body_model=PhoneIn, response_model=Record, status=201)
    routes.add("DELETE", "/phones/{id}", delete_phone, tag="customers",
               summary="Remove a phone number", path_model=IdPath, status=204)
    _collection(routes, "contacts", "contacts", list_contacts, create_contact, ContactIn)
    _item(routes, "contacts", "contacts", get_contact, update_contact, ContactPatch,
          delete_contact)
    _collection(routes, "assets", "assets", list_assets, create_asset, AssetIn)
    _item(routes, "assets", "assets", get_asset, update_asset, AssetPatch, delete_asset)
    _collection(routes, "interactions", "interactions", list_interactions, create_interaction,
                InteractionIn)
    _item(routes, "interactions", "interactions", get_interaction, update_interaction,
          InteractionPatch, None)
    routes.add("POST", "/interactions/{id}/addenda", add_addendum, tag="interactions",
               summary="Add a correction to a closed interaction", path_model=IdPath,
               body_model=AddendumIn, response_model=Record, status=201)
    routes.add("GET", "/tickets", list_tickets, tag="tickets",
               summary="Tickets in scope (by customer, status, open, number)",
               query_model=TicketList, response_model=Page[Record])
    routes.add("POST", "/customers/{id}/tickets", create_ticket, tag="tickets",
               summary="Open a ticket for the customer (409 duplicate_ticket with the "
                       "open one when the asset already has an open repair)",
               description="A repair ticket (category repair, or none) of an asset that "
                           "already has an open repair ticket is refused with 409, error "
                           "duplicate_ticket and existing_ticket (id, number, status): add "
                           "to that ticket, or send force: true to open a second one. A "
                           "complaint (category complaint) needs `verification`: without "
                           "one, or with a failed check, it is refused with 422, error "
                           "caller_not_verified (field verification, the failed method); "
                           "method not_verified with a reason opens it flagged "
                           "(caller_flagged). The check is kept as caller_check and in "
                           "the history.",
               path_model=IdPath, body_model=TicketIn, response_model=Record, status=201)
    _item(routes, "tickets", "tickets", get_ticket, update_ticket, TicketPatch, None)
    routes.add("POST", "/tickets/{id}/status", change_ticket_status, tag="tickets",
               summary="Move a ticket to another status (history kept)", path_model=IdPath,
               body_model=StatusIn, response_model=Record)
    routes.add("GET", "/opportunities", list_opportunities, tag="opportunities",
               summary="Opportunities in scope", query_model=OpportunityList,
               response_model=Page[Record])
    routes.add("POST", "/customers/{id}/opportunities", create_opportunity,
               tag="opportunities", summary="Raise an opportunity", path_model=IdPath,
               body_model=OpportunityIn, response_model=Record, status=201)
    _item(routes, "opportunities", "opportunities", get_opportunity, update_opportunity,
          OpportunityPatch, delete_opportunity)
    _collection(routes, "subscriptions", "subscriptions", list_subscriptions,
                create_subscription, SubscriptionIn)
    _item(routes, "subscriptions", "subscriptions", get_subscription, update_subscription,
          SubscriptionPatch, delete_subscription)
    routes.add("GET", "/users", list_users, tag="users", summary="Users (admin)",
               query_model=UserList, response_model=Page[Record])
    routes.add("POST", "/users", create_user, tag="users", summary="Create a user (admin)",
               body_model=UserIn, response_model=Record, status=201)
    _item(routes, "users", "users", get_user, update_user, UserPatch, None)
    routes.add("DELETE", "/users/{id}", deactivate_user, tag="users",
               summary="Deactivate a user (records stay theirs until reassigned)",
               path_model=IdPath, response_model=Record)
    routes.add("GET", "/reminders", list_reminders, tag="reminders",
               summary="Subscriptions, contracts and warranties ending soon",
               query_model=ReminderQuery, response_model=Reminders, errors=(401, 403, 422))
