"""The public unsubscribe page of group mailings (``crm_core.mailings``): the link at the
foot of every mailing's email.

Rules:
- no sign-in: the signed token in the link (``Links``) is the only authority, and it
  names one recipient of one mailing; a token that is not genuine gets a 404 page;
- ``GET /unsubscribe?t=...`` only asks (a mail scanner following links must not
  unsubscribe anyone); the form's ``POST`` does it, and so does a one-click POST
  (RFC 8058 ``List-Unsubscribe=One-Click``) to the same address;
- the page is server-written, in zh-CN or en (``?lang=``, else the browser's
  Accept-Language), every value escaped; it carries the console's security headers and
  no script at all.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from agent_console.api.routing import SESSIONMAKER
from agent_console.pages import SECURITY_HEADERS, STATIC_PREFIX
from crm_core import mailings

_LINKS = web.AppKey("unsubscribe_links", mailings.Links)

WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "退订邮件",
        "ask": "不再向 {address} 发送我们的群发邮件？",
        "ask_sms": "不再向 {address} 发送我们的群发短信？",
        "button": "确认退订",
        "done": "已退订：{address} 将不再收到我们的群发邮件。",
        "done_sms": "已退订：{address} 将不再收到我们的群发短信。",
        "already": "{address} 已经退订，不会再收到群发消息。",
        "bad": "此退订链接无效或已过期。",
        "other": "English",
    },
    "en": {
        "title": "Unsubscribe",
        "ask": "Stop sending our mailings to {address}?",
        "ask_sms": "Stop sending our text messages to {address}?",
        "button": "Unsubscribe",
        "done": "Unsubscribed: {address} will not receive our mailings again.",
        "done_sms": "Unsubscribed: {address} will not receive our text messages again.",
        "already": "{address} is already unsubscribed and will not be mailed again.",
        "bad": "This unsubscribe link is not valid.",
        "other": "中文",
    },
}


def language(request: web.Request) -> str:
    chosen = request.query.get("lang")
    if chosen in WORDS:
        return chosen
    accept = request.headers.get("Accept-Language", "").lower()
    return "zh-CN" if accept.startswith("zh") or not accept else "en"


def page(lang: str, token: str, message: str, *, form: bool, status: int = 200
         ) -> web.Response:
    """The whole page; ``message`` is already escaped text."""
    w = WORDS[lang]
    other = "en" if lang == "zh-CN" else "zh-CN"
    t = escape(token, quote=True)
    button = (f'<form method="post" action="/unsubscribe?lang={lang}">'
              f'<input type="hidden" name="t" value="{t}">'
              f'<button type="submit" id="unsubscribe" class="primary">{w["button"]}</button>'
              "</form>") if form else ""
    body = (
        f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{w["title"]}</title>\n'
        f'<link rel="stylesheet" href="{STATIC_PREFIX}console.css">\n</head>\n'
        f'<body class="page-unsubscribe"><main class="card">\n<h1>{w["title"]}</h1>\n'
        f'<p id="message">{message}</p>\n{button}\n'
        f'<p><a id="other-language" href="/unsubscribe?t={t}&amp;lang={other}">'
        f'{w["other"]}</a></p>\n</main></body>\n</html>\n')
    return web.Response(text=body, status=status, headers={
        **SECURITY_HEADERS, "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store"})


async def ask(request: web.Request) -> web.Response:
    lang, token = language(request), request.query.get("t", "")
    async with request.config_dict[SESSIONMAKER]() as db:
        target = await mailings.unsubscribe_target(db, request.config_dict[_LINKS], token)
    w = WORDS[lang]
    if target is None:
        return page(lang, token, w["bad"], form=False, status=404)
    address = escape(target["address"])
    if target["unsubscribed"]:
        return page(lang, token, w["already"].format(address=address), form=False)
    key = "ask_sms" if target["channel"] == "sms" else "ask"
    return page(lang, token, w[key].format(address=address), form=True)


async def confirm(request: web.Request) -> web.Response:
    lang = language(request)
    form = await request.post()
    token = str(form.get("t") or request.query.get("t", ""))
    async with request.config_dict[SESSIONMAKER].begin() as db:
        done = await mailings.unsubscribe(db, request.config_dict[_LINKS], token)
    w = WORDS[lang]
    if done is None:
        return page(lang, token, w["bad"], form=False, status=404)
    key = "done_sms" if done["channel"] == "sms" else "done"
    return page(lang, token, w[key].format(address=escape(done["address"])), form=False)


def add_unsubscribe(app: web.Application, links: mailings.Links) -> None:
    """Mount ``/unsubscribe`` (GET asks, POST does) on ``app``."""
    app[_LINKS] = links
    app.router.add_get("/unsubscribe", ask)
    app.router.add_post("/unsubscribe", confirm)
