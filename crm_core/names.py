"""Name keys for the duplicate guard: two spellings of one company give one key.

``name_key(name)`` is what ``Customer.name_key`` stores and what a new customer's
name is compared with. Pure, never raises, idempotent (``name_key(name_key(x)) ==
name_key(x)``).

Rules (in this order):
- Unicode NFKC + casefold: full-width letters, digits and brackets become their
  ASCII forms (``ＡＢＣ（郑州）`` -> ``abc(郑州)``), case is ignored;
- traditional Chinese becomes simplified (OpenCC's ``t2s``, characters and the
  phrases whose conversion depends on context): ``華東醫藥包裝有限公司`` and
  ``华东医药包装有限公司`` are one name; a maintained dictionary, not a table of ours;
- every kind of bracket (``()[]{}（）【】〔〕〖〗「」『』《》〈〉<>``) is the same bracket;
- legal forms are dropped:
  - the unambiguous Chinese ones anywhere in the name (``股份有限公司``,
    ``有限责任公司``, ``有限公司``, ``股份公司``, ``有限合伙``): they are never part of
    what distinguishes one company from another;
  - the generic Chinese ones only at the end (``集团``, ``总公司``, ``公司``):
    ``公司`` inside ``分公司`` is NOT dropped, a branch (``郑州分公司``) is a
    customer of its own, distinct from its head office;
  - English ones only at the end and only as whole words (``co``, ``ltd``,
    ``limited``, ``inc``, ``incorporated``, ``corp``, ``corporation``, ``llc``,
    ``plc``, ``gmbh``, ``company``): ``Zinc`` keeps its ``inc``;
- a bracketed qualifier at the end (``宇通客车服务站(郑州)``) is KEPT: it tells
  branches and service stations apart; the legal form before it is still dropped,
  so ``华为技术有限公司(深圳)`` and ``华为技术(深圳)有限公司`` collide; a qualifier
  that is itself only a legal form (``(集团)``) is dropped;
- then all whitespace, punctuation and symbols go (ASCII and full-width:
  ``·、，。（）【】-&.`` ...): only letters, digits and combining marks remain;
- a name that would be left empty by dropping legal forms keeps them
  (``有限公司`` -> ``有限公司``); a name with no letter or digit at all gives ``""``,
  and an empty key never matches anything (see ``crm_core.duplicates``);
- last, the province and city names the name STARTS with are dropped from the key
  and kept apart as its places (``crm_core.name_places``: ``上海华东医药包装有限责任
  公司`` -> key ``华东医药包装``, places {上海}), unless fewer than four characters
  would be left (``北京大学``, ``郑州宇通`` keep theirs).

Same key is not yet the same company: ``places_agree`` must hold too. A name that
says no place matches one that does (``华东医药包装`` is the Shanghai firm, whoever
leaves the city out); two names that both say one must agree (one set of places
inside the other: ``江苏南京X`` is ``南京X``), so ``郑州X`` and ``洛阳X`` stay two
customers (branches and service stations are named that way). ``same_company``
applies both. Only a leading place counts: a bracketed place at the end
(``宇通客车服务站(郑州)``) stays in the key, as before.

Changing these rules changes stored keys: ship a migration that recomputes
``Customer.name_key`` (as 0003 does) with the new rules.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from opencc import OpenCC

from crm_core.name_places import strip_places

# the legal forms that can be dropped wherever they are (longest first)
_CN_ANYWHERE = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "有限合伙")
# generic words only dropped at the end of the name (longest first)
_CN_TRAILING = ("集团", "总公司", "公司")
_EN_TRAILING = (
    "corporation", "incorporated", "company", "limited", "gmbh", "corp", "ltd", "inc", "llc",
    "plc", "co",
)
_OPEN = "([{（【〔〖「『《〈<［｛"
_CLOSE = ")]}）】〕〗」』》〉>］｝"
_BRACKETS = str.maketrans({**dict.fromkeys(_OPEN, "("), **dict.fromkeys(_CLOSE, ")")})
_TRAILING_GROUP = re.compile(r"\(([^()]*)\)$")
_CJK_START = 0x2E80  # below: scripts that separate words with spaces (Latin, Cyrillic...)


@lru_cache(maxsize=1)
def _converter() -> OpenCC:
    # built once (its dictionaries load in well under a millisecond); convert() is pure
    return OpenCC("t2s")


def _simplified(text: str) -> str:
    return str(_converter().convert(text))


def _fold(text: str) -> str:
    """NFKC casefold (the recommended NFKC(casefold(NFKC(x))) form), simplified."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return _simplified(folded)


def _kept(char: str) -> bool:
    """Letters, digits and combining marks survive into the key."""
    return unicodedata.category(char)[0] in "LNM"


def _wordish(char: str) -> bool:
    """A letter or digit of a script whose words are separated by spaces."""
    return ord(char) < _CJK_START and _kept(char)


def _tidy(text: str) -> str:
    """Brackets unified; separators (spaces, punctuation, symbols) dropped, except one
    space between two words of a spaced script (the English suffixes need it)."""
    out: list[str] = []
    gap = False
    for char in text.translate(_BRACKETS):
        if char in "()" or _kept(char):
            if gap and out and _wordish(out[-1]) and _wordish(char):
                out.append(" ")
            out.append(char)
            gap = False
        else:
            gap = True
    return "".join(out)


def _squash(text: str) -> str:
    return "".join(c for c in text if _kept(c))


def _drop_anywhere(text: str) -> str:
    for form in _CN_ANYWHERE:
        text = text.replace(form, " ")
    return _tidy(text)


def _strip_one_suffix(core: str) -> str | None:
    """``core`` without one trailing legal form, or None when there is none to drop."""
    for form in _EN_TRAILING:
        if core.endswith(form):
            rest = core[: -len(form)]
            # a whole word only: "zinc" keeps its "inc"
            if rest and not (rest[-1] == " " or not _wordish(rest[-1])):
                continue
            if _squash(rest):
                return rest.rstrip(" ")
    for form in _CN_TRAILING:
        if core.endswith(form):
            rest = core[: -len(form)]
            if form == "公司" and rest.endswith(("分", "总")):
                return None  # 分公司 is a branch, kept; 总公司 was tried as a whole
            if _squash(rest):
                return rest
    return None


def _only_legal(text: str) -> bool:
    """Whether ``text`` is nothing but a legal form (a ``(集团)`` qualifier)."""
    squashed = _squash(_drop_anywhere(_tidy(_fold(text))))
    return squashed in ("", *_CN_TRAILING, *_EN_TRAILING)


def _one_pass(text: str) -> str:
    core = _drop_anywhere(_tidy(_fold(text)))
    qualifiers: list[str] = []
    while True:
        group = _TRAILING_GROUP.search(core)
        if group is not None and _squash(core[: group.start()]):
            if not _only_legal(group.group(1)):
                qualifiers.insert(0, group.group(1))
            core = core[: group.start()].rstrip(" ")
            continue
        stripped = _strip_one_suffix(core)
        if stripped is None:
            break
        core = stripped
    return _squash(core + "".join(qualifiers))


@dataclass(frozen=True)
class NameParts:
    """A name's duplicate-detection key and the places it started with."""

    key: str
    places: frozenset[str]


def _pass(text: str) -> tuple[str, frozenset[str]]:
    core = _one_pass(text)
    return strip_places(core) if core else (core, frozenset())


def name_parts(name: str) -> NameParts:
    """The key and the leading places of a company or person name (module rules)."""
    if not isinstance(name, str):
        return NameParts("", frozenset())
    whole = _squash(_fold(name))
    # nothing left once legal forms are dropped: the name IS a legal form, keep it
    current, places = _pass(name)
    current = current or whole
    # a pass can reveal a suffix that brackets or punctuation hid, or a phrase whose
    # simplified form depends on its neighbours: run to the fixpoint (each pass deletes
    # characters or changes none but by the converter, so this ends well within the bound)
    for _ in range(len(current) + 1):
        following, more = _pass(current)
        following = following or current
        places |= more
        if following == current:
            break
        current = following
    return NameParts(current, places)


def name_key(name: str) -> str:
    """The duplicate-detection key of a company or person name (see module rules)."""
    return name_parts(name).key


def name_places(name: str) -> frozenset[str]:
    """The provinces and cities ``name`` starts with (see module rules)."""
    return name_parts(name).places


def places_agree(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two names' places allow one company: one set inside the other (an empty
    set, a name that says no place, is inside every set)."""
    return a <= b or b <= a


def same_company(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` name one company by the duplicate guard's rules."""
    first, second = name_parts(a), name_parts(b)
    return bool(first.key) and first.key == second.key and places_agree(
        first.places, second.places)
