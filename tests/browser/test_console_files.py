"""The console's files, read as text (no browser): both dictionaries hold every label
the pages use, the scripts never parse markup, the pages (as served: the shared head
and the page's body) carry no inline script or style, and the static route and the
sign-in return path stay inside the site."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent_console import pages
from crm_core import mailings
from crm_core.interactions import INTERACTION_KINDS
from crm_core.opportunities import STAGES
from crm_core.outbound_lists import ENTRY_STATES, OUTCOMES, RULE_KIND
from crm_core.permissions import MODULES, OPERATIONS, SCOPES
from crm_core.ticket_page import CLOCK_STATES
from crm_core.tickets import HISTORY_KINDS, PRIORITIES, TICKET_STATUSES
from crm_core.users import DEFAULT_ROLES
from crm_core.users import LANGUAGES as USER_LANGUAGES

STATIC = pages.CONSOLE_DIR
LANGUAGES = ("en", "zh-CN")
SCRIPTS = sorted((STATIC / "js").glob("*.js"))
# each page as served (pages.document: the shared head, then the body file)
PAGES = {name: pages.document(name).decode("utf-8") for name in sorted(pages.PAGES)}

# the vocabularies the pages translate with label(group, value)
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "state": ("signed-out", "ready", "paused", "wrap-up", "ringing", "busy", "unknown"),
    "state_action": ("sign-in", "ready", "pause", "sign-out"),
    "pause_reason": ("break", "lunch", "training", "meeting", "other"),
    # the console's six, and those older records and the demo carry
    "disposition": ("inquiry", "repair", "complaint", "order-status", "sales-lead", "other",
                    "sales", "renewal", "visit", "support", "note"),
    # the call log's note template of each disposition (js/notes.js)
    "note_template": ("inquiry", "repair", "complaint", "order-status", "sales-lead", "other"),
    "call.status": ("ringing", "talking", "ended", "missed", "abandoned", "queue-timeout",
                    "customer-no-answer", "taken-elsewhere", "failed"),
    "transfer_kind": ("agent", "queue", "account-manager", "number"),
    "transfer_mode": ("blind", "attended"),
    "ws": ("connecting", "open", "closed"),
    "outcome": ("answered", "abandoned", "no-answer", "ivr-only", "transferred", "failed",
                "queue-timeout", "customer-no-answer", "not-placed"),
    "ended_by": ("caller", "agent", "customer", "transfer", "system", "queue"),
    "callback_result": ("answered", "busy", "no-answer", "failed"),
    "queue": ("support", "vip", "sales", "service"),
    "customer_status": ("prospect", "active", "dormant", "lost"),
    "customer_kind": ("company", "person"),
    "ticket_status": tuple(TICKET_STATUSES),
    # a ticket's history rows (the station page; the ticket page: the SLA clock's too)
    "history.kind": (*HISTORY_KINDS, "sla-start", "sla-pause", "sla-resume"),
    # the ticket page: its SLA clocks, the notifications sent about it
    "sla_target": ("accept", "arrive", "resolve"),
    "sla_clock": CLOCK_STATES,
    "ticketpage.channel": ("email", "sms"),
    "ticketpage.message_state": ("pending", "sending", "sent", "failed"),
    "priority": tuple(PRIORITIES),
    "stage": tuple(STAGES),
    "interaction_kind": tuple(INTERACTION_KINDS),
    "phone_kind": ("mobile", "landline", "hotline", "phone"),
    "subscription_kind": ("subscription", "contract"),
    # the admin page: role names, the grant matrix, users' languages
    "role": tuple(DEFAULT_ROLES),
    "module": MODULES,
    "operation": OPERATIONS,
    "scope": SCOPES,
    "language": USER_LANGUAGES,
    # outbound call lists (issue 17): the console's "Next call" card and the lists' page
    "nc.rule": tuple(RULE_KIND),
    "nc.outcome": tuple(dict.fromkeys(o for kind in OUTCOMES.values() for o in kind)),
    "cl.state": ENTRY_STATES,
    # mail to customer groups (issue 18 item 4)
    "ml.status": mailings.STATUSES,
    "ml.reason": mailings.REASONS,
    "ml.channel": mailings.CHANNELS,
}


def dictionary(lang: str) -> dict[str, str]:
    data = json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def used_keys() -> set[str]:
    keys: set[str] = set()
    for html in PAGES.values():
        keys |= set(re.findall(r'data-i18n(?:-\w+)?="([^"]+)"', html))
    for script in SCRIPTS:
        text = script.read_text("utf-8")
        keys |= set(re.findall(r'\bt\("([a-z_.\-0-9]+)"', text))
        # table headers and other keys handed over as plain lists of strings
        keys |= {k for k in re.findall(r'"([a-z_]+\.[a-z_.\-0-9]+)"', text)
                 if not k.endswith((".js", ".json", ".html"))}
    # not labels: the vocabularies' group names, the browser storage key of the language
    return keys - set(VOCABULARIES) - {"hotline.lang"}


def test_both_dictionaries_have_the_same_keys_and_placeholders() -> None:
    en, zh = dictionary("en"), dictionary("zh-CN")
    assert set(en) == set(zh), set(en) ^ set(zh)
    for key in en:
        assert en[key].strip() and zh[key].strip(), key
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key
    # the two languages really differ (a copy would pass the key check)
    assert sum(en[k] != zh[k] for k in en) > 0.9 * len(en)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_label_the_pages_use_exists(lang: str) -> None:
    words = dictionary(lang)
    missing = sorted(k for k in used_keys() if k not in words)
    assert not missing, f"{lang}: {missing}"
    for group, values in VOCABULARIES.items():
        for value in values:
            assert f"{group}.{value}" in words, f"{lang}: {group}.{value}"


def test_scripts_never_parse_markup_or_evaluate_text() -> None:
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|"
                       r"new Function|setTimeout\(\s*[\"'`]|createContextualFragment|DOMParser")
    for script in SCRIPTS:
        for number, line in enumerate(script.read_text("utf-8").splitlines(), 1):
            if line.lstrip().startswith("//"):
                continue
            assert not sinks.search(line), f"{script.name}:{number}: {line.strip()}"


def test_every_page_file_is_served_as_a_page() -> None:
    # a new .html file left out of pages.PAGES would escape the checks below
    # (the back office's sections share backoffice.html, their section's name put in)
    served = {f"{name}.html" for name in PAGES if name not in pages.SECTIONS}
    assert served == {p.name for p in STATIC.glob("*.html")}
    for page, html in PAGES.items():  # one head, the shared one: a body file has none
        assert html.startswith(pages.head(page) + "<body "), page
        assert html.count("<head>") == html.count("<body") == html.count("</html>") == 1, page


def test_pages_have_no_inline_script_style_or_handler() -> None:
    for page, html in PAGES.items():
        for tag in re.findall(r"<script\b[^>]*>", html):
            # the page's module, or an npm package Hotline serves (pages.VENDOR)
            assert ('src="/static/console/' in tag and 'type="module"' in tag) or (
                re.fullmatch(r'<script src="/static/vendor/[a-z.]+" defer>', tag)), (page, tag)
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), page  # inline code
        assert "<style" not in html and " style=" not in html, page
        assert not re.search(r"\son[a-z]+\s*=", html), page
        assert not re.search(r'(src|href)="(https?:)?//', html), f"{page}: no CDN"


@pytest.mark.parametrize("path", [
    "../live.html", "../../pages.py", "js/../../pages.py", "/etc/passwd", "js\\console.js",
    "i18n/../../live.js", "js/console.js\x00.png", "", "js", "icon.svg/..", ".",
])
def test_static_route_serves_nothing_outside_the_console_folder(path: str) -> None:
    found = pages.resolve_static(path)
    assert found is None or found.is_relative_to(STATIC.resolve()) and found.is_file()
    if path.startswith(("..", "/")) or "\\" in path or "\x00" in path:
        assert found is None


def test_static_route_serves_the_console_files() -> None:
    for name in ("js/console.js", "console.css", "i18n/zh-CN.json", "console.html"):
        found = pages.resolve_static(name)
        assert found == (STATIC / name).resolve()


@pytest.mark.parametrize(("value", "expected"), [
    ("/console", "/console"), ("/records?q=abc", "/records?q=abc"), ("/records/12", "/records/12"),
    ("//evil.example/console", None), ("https://evil.example/", None), ("/\\evil", None),
    ("/api/v1/session", None), ("", None), (None, None), ("javascript:alert(1)", None),
    ("/records\r\nSet-Cookie: a=b", None), ("/records?q=a\nb", None), ("/consolex", None),
    ("/records/1/../../api", None), ("/records?q=华东", "/records?q=华东"),
    ("/admin", "/admin"), ("/admin?tab=roles", "/admin?tab=roles"), ("/adminx", None),
])
def test_sign_in_returns_only_to_a_console_page(value: str | None, expected: str | None
                                                ) -> None:
    assert pages._safe_next(value) == expected


def test_package_data_ships_the_console_files() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text("utf-8")
    for pattern in ("static/console/*", "static/console/js/*", "static/console/i18n/*"):
        assert f'"{pattern}"' in pyproject


def _imports(name: str, seen: set[str]) -> set[str]:
    for dep in re.findall(r'from "\./([a-z0-9_]+\.js)"', (STATIC / "js" / name).read_text("utf-8")):
        if dep not in seen:
            seen.add(dep)
            _imports(dep, seen)
    return seen


@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_preloads_exactly_the_modules_it_imports(page: str) -> None:
    # all modules fetched at once instead of one import level per round trip
    html = PAGES[page]
    entry = re.search(r'<script type="module" src="/static/console/js/([a-z]+\.js)">', html)
    assert entry is not None
    preloaded = set(re.findall(r'rel="modulepreload" href="/static/console/js/([a-z0-9_]+\.js)"',
                               html))
    assert preloaded == _imports(entry.group(1), set())
