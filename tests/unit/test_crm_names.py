"""crm_core.names.name_key: spellings of one company collide, different companies
(and branches) do not; the key never raises and is idempotent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.names import name_key

MUST_COLLIDE = [
    ("宇通客车服务站(郑州)", "宇通客车服务站（郑州）"),
    ("宇通客车服务站(郑州)", "宇通客车服务站 【郑州】"),
    ("上海华东医药包装有限公司", "上海华东医药包装"),
    ("上海华东医药包装有限公司", "上海 华东医药包装 有限 公司"),
    ("上海华东医药包装有限公司", "上海华东医药包装股份有限公司"),
    ("上海华东医药包装有限公司", "上海华东医药包装有限责任公司"),
    ("郑州宇通集团有限公司", "郑州宇通"),
    ("郑州宇通集团有限公司", "郑州宇通(集团)有限公司"),
    ("郑州宇通集团有限公司", "郑州宇通集团"),
    ("郑州宇通集团有限公司", "郑州宇通公司"),
    ("中国国旅总公司", "中国国旅"),
    ("华为技术有限公司（深圳）", "华为技术(深圳)有限公司"),
    ("北京理工大学图书馆", "北京理工大学 图书馆"),
    ("北京·理工大学，图书馆。", "北京理工大学图书馆"),
    ("Acme Printing Co., Ltd.", "ACME PRINTING CO LTD"),
    ("Acme Printing Co., Ltd.", "Acme Printing Company Limited"),
    ("Acme Printing Co., Ltd.", "ＡＣＭＥ　Ｐｒｉｎｔｉｎｇ"),
    ("Acme Printing Co., Ltd.", "acme-printing, inc."),
    ("Hewlett-Packard Inc.", "Hewlett Packard Corp"),
    ("Siemens GmbH", "SIEMENS"),
    ("Foo Holdings LLC", "foo holdings"),
    ("Konica Minolta (China) Co., Ltd.", "Konica Minolta（China）"),
    ("理光(中国)投资有限公司", "理光（中国）投资"),
    ("张伟", " 张 伟 "),
]

MUST_NOT_COLLIDE = [
    ("宇通客车服务站(郑州)", "宇通客车服务站(洛阳)"),
    ("宇通客车服务站(郑州)", "宇通客车服务站"),
    ("宇通客车有限公司郑州分公司", "宇通客车有限公司"),
    ("宇通客车有限公司郑州分公司", "宇通客车有限公司洛阳分公司"),
    ("中国银行", "中国农业银行"),
    ("张伟", "张玮"),
    ("Acme Zinc", "Acme"),
    ("Zinc", ""),
    ("北京大学", "北京大学出版社"),
    ("Costco", "Cost"),
]


@pytest.mark.parametrize(("a", "b"), MUST_COLLIDE)
def test_spellings_of_one_company_collide(a: str, b: str) -> None:
    assert name_key(a) == name_key(b) != ""


@pytest.mark.parametrize(("a", "b"), MUST_NOT_COLLIDE)
def test_different_companies_do_not_collide(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("宇通客车服务站（郑州）", "宇通客车服务站郑州"),
        ("宇通客车有限公司郑州分公司", "宇通客车郑州分公司"),
        ("Acme Printing Co., Ltd.", "acmeprinting"),
        ("Zinc", "zinc"),
        ("Straße", "strasse"),
    ],
)
def test_known_keys(name: str, key: str) -> None:
    assert name_key(name) == key


@pytest.mark.parametrize("name", ["有限公司", "集团", "Company", "Ltd.", "公司"])
def test_a_name_that_is_only_a_legal_form_keeps_it(name: str) -> None:
    assert name_key(name) != ""


@pytest.mark.parametrize("name", ["", "   ", "（）", "·、，。", "---", "\u200b"])
def test_no_letters_no_key(name: str) -> None:
    assert name_key(name) == ""


def test_not_a_string_gives_empty_key() -> None:
    assert name_key(None) == ""  # type: ignore[arg-type]


_PIECES = st.sampled_from(
    ["有限公司", "股份", "集团", "公司", "分", "总", "(", ")", "（", "）", "【", "】", " ", "　",
     "co", "ltd", "inc", ".", ",", "·", "宇通", "郑州", "Acme", "ＡＢ", "z"]
)
_NAMES = st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=12).map("".join))


@settings(max_examples=400, deadline=None)
@given(_NAMES)
def test_key_is_idempotent_and_never_raises(name: str) -> None:
    key = name_key(name)
    assert isinstance(key, str)
    assert name_key(key) == key


_CJK_PIECES = st.sampled_from(
    ["有限公司", "股份", "集团", "公司", "分", "总", "(", ")", "【", "】", "·", "、",
     "宇通", "郑州"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CJK_PIECES, min_size=1, max_size=8))
def test_spacing_and_bracket_width_never_matter_in_chinese(pieces: list[str]) -> None:
    name = "".join(pieces)
    assert name_key(" ".join(pieces)) == name_key(name)
    assert name_key("\u3000".join(pieces)) == name_key(name)
    assert name_key(name.replace("(", "（").replace(")", "）")) == name_key(name)
