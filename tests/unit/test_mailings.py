"""The pure parts of group mailings: addresses, signed unsubscribe links, the text each
recipient gets, the status shown, the filter's checks, and which SMTP failures are
bounces."""

from __future__ import annotations

from datetime import date

import aiosmtplib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_core import mailings
from crm_core.errors import ValidationFailed
from crm_core.models import OutboxMessage
from crm_core.reports import CustomerFilter
from hotline.outbox_worker import message_id, permanent

LINKS = mailings.Links(b"k" * 32, "https://hotline.example.com/")


def test_addresses_are_trimmed_lowercased_and_must_look_like_one() -> None:
    assert mailings.normal_email("  Zhang.Wei@Example.COM ") == "zhang.wei@example.com"
    for bad in (None, "", "zhang", "a@b", "a b@example.com", "<a@example.com>", "a@@x.cn"):
        assert mailings.normal_email(bad) is None


@given(st.integers(1, 10**9), st.integers(1, 10**9))
def test_a_link_reads_back_to_its_recipient_and_nothing_else(m: int, c: int) -> None:
    token = LINKS.token(m, c)
    assert LINKS.read(token) == (m, c)
    assert LINKS.read(f"{m}.{c + 1}.{token.split('.')[2]}") is None  # another customer
    assert mailings.Links(b"x" * 32, "").read(token) is None  # another site's key


def test_a_malformed_token_is_refused_without_error() -> None:
    for bad in ("", "1.2", "a.b.c", "1.2.3.4", "-1.2.xyz", "1.2." + "A" * 24):
        assert LINKS.read(bad) is None
    assert LINKS.url(3, 4).startswith("https://hotline.example.com/unsubscribe?t=3.4.")


def test_each_email_carries_its_link_and_each_sms_the_opt_out_word() -> None:
    text = mailings.compose("email", "新书目录", "https://h/unsubscribe?t=1.2.x")
    assert text.startswith("新书目录") and text.count("https://h/unsubscribe?t=1.2.x") == 2
    assert "退订" in text and "unsubscribe" in text
    assert mailings.compose("sms", "到货通知", "ignored") == "到货通知 回TD退订"


def test_the_status_shown_follows_the_outbox_until_something_is_recorded() -> None:
    assert mailings.effective_status("queued", "pending") == "queued"
    assert mailings.effective_status("queued", "sending") == "queued"
    assert mailings.effective_status("queued", "sent") == "sent"
    assert mailings.effective_status("queued", "failed") == "failed"
    assert mailings.effective_status("queued", "cancelled") == "unsubscribed"
    assert mailings.effective_status("bounced", "sent") == "bounced"  # a later bounce wins
    assert mailings.effective_status("skipped", None) == "skipped"


def test_the_message_id_names_the_recipient_back() -> None:
    message = OutboxMessage(id=77, event_key=mailings.event_key(12, 345))
    mid = message_id(message)
    assert ":" not in mid and mid.startswith("<outbox-77-") and mid.endswith("@hotline>")
    assert mailings.parse_message_id(mid) == "mailing:12:345"
    assert mailings.parse_message_id("<outbox-5-sla.1.accept@hotline>") is None
    assert message_id(OutboxMessage(id=1, event_key="sla:1:email:a@b.cn")).count("@") == 1


def test_the_filter_is_checked_field_by_field() -> None:
    f = mailings.check_filter({"province": "北京", "product_line": "printer",
                               "subscription": "none", "created_from": "2026-01-01",
                               "city": ""})
    assert f == CustomerFilter(province="北京", product_line="printer", subscription="none",
                               created_from=date(2026, 1, 1))
    for bad, where in (({"colour": 1}, "filter"), ({"created_to": "soon"}, "filter.created_to"),
                       ({"subscription": "lapsed"}, "filter.subscription"), ([], "filter")):
        with pytest.raises(ValidationFailed) as caught:
            mailings.check_filter(bad)
        assert caught.value.field == where


def test_only_a_permanent_smtp_refusal_is_a_bounce() -> None:
    refused = aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@x.cn")
    assert permanent(aiosmtplib.SMTPRecipientsRefused([refused]))
    busy = aiosmtplib.SMTPRecipientRefused(451, "try later", "b@x.cn")
    assert not permanent(aiosmtplib.SMTPRecipientsRefused([refused, busy]))
    assert permanent(aiosmtplib.SMTPDataError(554, "rejected"))
    assert not permanent(aiosmtplib.SMTPResponseException(421, "closing"))
    assert not permanent(aiosmtplib.SMTPConnectError("refused"))
    assert not permanent(TimeoutError())
