"""Mail to customer groups (``crm_core.mailings``; issue 18 item 4): the mailings with
their progress, how many a filter reaches before sending (``POST /mailings/preview``),
sending one (``POST /mailings``: its first batch is queued at once, the outbox worker
queues the rest), its recipients with their status, and what the mail system and the
SMS gateway report back: a bounce (``POST /mailings/bounces``) and an opt-out
(``POST /mailings/opt-outs``: an SMS reply "TD", a customer's word on the phone).

Rules: the service decides everything (grants of module ``mailings``, its scope limits
the group); the unsubscribe link's page is public (``agent_console.unsubscribe``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field

from agent_console.api.auth import AUTH
from agent_console.api.routing import Call, Routes
from agent_console.api.schemas import Body, IdPath, Out, PageQuery, Text
from crm_core import mailings as ml

Channel = Literal["email", "sms"]
Status = Literal["queued", "sent", "failed", "bounced", "unsubscribed", "skipped"]


class FilterIn(Body):
    """The customer group: every field narrows it (none: every customer in your scope)."""

    status: Text | None = Field(default=None, max_length=40)
    category: Text | None = Field(default=None, max_length=80)
    source: Text | None = Field(default=None, max_length=80)
    industry: Text | None = Field(default=None, max_length=80)
    province: Text | None = Field(default=None, max_length=40)
    city: Text | None = Field(default=None, max_length=40)
    owner_id: int | None = Field(default=None, ge=1)
    pool: bool | None = None
    vip_tier_min: int | None = Field(default=None, ge=0, le=99)
    created_from: date | None = None
    created_to: date | None = None
    product_line: Text | None = Field(default=None, max_length=40,
                                      description="customers with an asset of this line (code)")
    subscription: Literal["active", "none"] | None = Field(
        default=None, description="holds an active subscription or contract, or none")


def _filter(f: FilterIn) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v)
            for k, v in f.model_dump().items() if v is not None}


class PreviewIn(Body):
    channel: Channel
    filter: FilterIn = Field(default_factory=FilterIn)


class PreviewOut(Out):
    customers: int = Field(description="customers the filter selects")
    reachable: int = Field(description="of them, with an address for the channel that "
                                       "did not opt out")
    no_address: int
    opted_out: int


class MailingIn(Body):
    name: Text = Field(min_length=1, max_length=80)
    channel: Channel
    filter: FilterIn = Field(default_factory=FilterIn)
    subject: Text | None = Field(default=None, max_length=200, description="email only")
    body: str = Field(min_length=1, max_length=20000, description="the email's text, or "
                      "the SMS (an unsubscribe link, or 回TD退订, is added)")


class MailingOut(Out):
    id: int
    name: str
    channel: str
    filter: dict[str, Any]
    subject: str | None = None
    body: str
    state: Literal["queueing", "queued"]
    created_at: datetime
    queued_at: datetime | None = None
    created_by: str | None = None
    counts: dict[str, int] = Field(description="recipients by status: queued, sent, failed, "
                                               "bounced, unsubscribed, skipped")
    total: int


class MailingsOut(Out):
    items: list[MailingOut]
    total: int


class RecipientsQuery(PageQuery):
    status: Status | None = None


class RecipientRow(Out):
    id: int
    customer_id: int
    customer_name: str
    contact_id: int | None = None
    contact_name: str | None = None
    address: str | None = None
    status: Status
    reason: str | None = Field(default=None, description="why skipped, the bounce, the "
                                                          "last error")
    sent_at: datetime | None = None
    updated_at: datetime


class RecipientsOut(Out):
    items: list[RecipientRow]
    total: int


class BounceIn(Body):
    message_id: Text | None = Field(default=None, max_length=300,
                                    description="the bounced email's Message-ID header")
    address: Text | None = Field(default=None, max_length=300,
                                 description="or the address (its latest mailing)")
    reason: Text = Field(default="bounced", max_length=500)


class BounceOut(Out):
    event_key: str
    status: Literal["bounced"]


class OptOutIn(Body):
    channel: Channel
    address: Text = Field(min_length=3, max_length=300)
    reason: Literal["opted-out", "unsubscribed"] = "opted-out"


class OptOutOut(Out):
    channel: str
    address: str
    added: bool = Field(description="false: it had opted out already")


async def list_mailings(call: Call) -> Any:
    q: PageQuery = call.query
    return await ml.list_mailings(call.db, call.me, limit=q.limit, offset=q.offset)


async def preview_mailing(call: Call) -> Any:
    b: PreviewIn = call.body
    return await ml.preview(call.db, call.me, b.channel, _filter(b.filter))


async def create_mailing(call: Call) -> Any:
    b: MailingIn = call.body
    links = call.request.config_dict[AUTH].config.mailing_links
    return await ml.create_mailing(call.db, call.me, links, name=b.name, channel=b.channel,
                                   raw_filter=_filter(b.filter), subject=b.subject,
                                   body=b.body)


async def get_mailing(call: Call) -> Any:
    return await ml.get_mailing(call.db, call.me, call.path.id)


async def list_recipients(call: Call) -> Any:
    q: RecipientsQuery = call.query
    return await ml.recipients(call.db, call.me, call.path.id, status=q.status,
                               limit=q.limit, offset=q.offset)


async def record_bounce(call: Call) -> Any:
    b: BounceIn = call.body
    return await ml.record_bounce(call.db, call.me, message_id=b.message_id,
                                  address=b.address, reason=b.reason)


async def record_opt_out(call: Call) -> Any:
    b: OptOutIn = call.body
    return await ml.opt_out(call.db, call.me, channel=b.channel, address=b.address,
                            reason=b.reason)


def add_routes(routes: Routes) -> None:
    routes.add("GET", "/mailings", list_mailings, tag="mailings",
               summary="The group mailings you may see, newest first, with their "
                       "recipients counted by status (mailings:read)",
               query_model=PageQuery, response_model=MailingsOut, errors=(401, 403, 422))
    routes.add("POST", "/mailings/preview", preview_mailing, tag="mailings",
               summary="How many customers a filter selects and how many of them the "
                       "channel reaches, before sending (mailings:create)",
               body_model=PreviewIn, response_model=PreviewOut, errors=(401, 403, 422))
    routes.add("POST", "/mailings", create_mailing, tag="mailings", status=201,
               summary="Send an email or an SMS to the customers a filter selects, "
                       "within your scope: resolved to recipients and queued through "
                       "the outbox in batches (mailings:create)",
               body_model=MailingIn, response_model=MailingOut, errors=(401, 403, 422))
    routes.add("POST", "/mailings/bounces", record_bounce, tag="mailings",
               summary="Record a bounce reported by the mail system (by Message-ID or "
                       "address): the recipient shows bounced and the address is never "
                       "mailed again (mailings:update)",
               body_model=BounceIn, response_model=BounceOut, errors=(401, 403, 404, 422))
    routes.add("POST", "/mailings/opt-outs", record_opt_out, tag="mailings",
               summary="Record that an address wants no more mailings on a channel (an "
                       "SMS reply TD); pending messages to it are cancelled "
                       "(mailings:update)",
               body_model=OptOutIn, response_model=OptOutOut, errors=(401, 403, 422))
    routes.add("GET", "/mailings/{id}", get_mailing, tag="mailings",
               summary="One mailing with its counts (mailings:read)", path_model=IdPath,
               response_model=MailingOut, errors=(401, 403, 404, 422))
    routes.add("GET", "/mailings/{id}/recipients", list_recipients, tag="mailings",
               summary="The mailing's recipients with their status and address, or why "
                       "skipped (mailings:read)", path_model=IdPath,
               query_model=RecipientsQuery, response_model=RecipientsOut,
               errors=(401, 403, 404, 422))
