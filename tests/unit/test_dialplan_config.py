"""Static checks of deploy/asterisk that need no Asterisk: mistakes Asterisk's config
parser makes silently (the acceptance suite, tests/asterisk, loads the files for real)."""

from __future__ import annotations

import re
from pathlib import Path

EXTENSIONS = Path(__file__).resolve().parents[2] / "deploy" / "asterisk" / "extensions.conf"


def unescaped_semicolons_in_calls(text: str) -> list[str]:
    """Dialplan lines where a ';' inside an application's parentheses starts a comment:
    Asterisk cuts the line there ("No closing parenthesis found?")."""
    bad = []
    for line in text.splitlines():
        if not re.match(r"\s*(exten|same)\s*=>", line):
            continue
        depth = 0
        for i, ch in enumerate(line):
            if ch == "(" and (i == 0 or line[i - 1] != "\\"):
                depth += 1
            elif ch == ")" and depth:
                depth -= 1
            elif ch == ";" and line[i - 1] != "\\":
                if depth:
                    bad.append(line)
                break
    return bad


def test_the_checker_finds_a_comment_cutting_a_call() -> None:
    assert unescaped_semicolons_in_calls(" same => n,NoOp(a; b)") == [" same => n,NoOp(a; b)"]
    assert unescaped_semicolons_in_calls(r" same => n,NoOp(a\; b) ; fine") == []
    assert unescaped_semicolons_in_calls(" same => n,Hangup() ; a comment") == []


def test_no_dialplan_call_is_cut_by_a_comment() -> None:
    assert unescaped_semicolons_in_calls(EXTENSIONS.read_text(encoding="utf-8")) == []
