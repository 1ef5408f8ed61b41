"""crm_core.names.name_key: spellings of one company collide, different companies
(and branches) do not; the key never raises and is idempotent. Traditional characters,
legal forms and a leading province or city are spellings too (issue 14 item 15), but
two names that both say a place must say the same one (``same_company``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.name_places import CITIES, FORMS, MIN_REST, PROVINCES, strip_places
from crm_core.names import name_key, name_parts, name_places, places_agree, same_company

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
    # issue 14 item 15: the guard let these two past 华东医药包装有限公司
    ("华东医药包装有限公司", "上海华东医药包装有限责任公司"),
    ("华东医药包装有限公司", "華東醫藥包裝有限公司"),
    ("华东医药包装有限公司", "上海市華東醫藥包裝股份有限公司"),
    ("华东医药包装有限公司", "华东医药包装集团"),
    ("南京中北巴士股份有限公司", "中北巴士"),
    ("南京中北巴士股份有限公司", "江苏省南京市中北巴士有限公司"),
    ("南京中北巴士股份有限公司", "南京市中北巴士"),
    ("廣州白雲山製藥包裝廠", "广州白云山制药包装厂"),
    ("云南丽江古城旅游客运公司", "丽江古城旅游客运"),
    ("广西壮族自治区柳州钢铁集团", "柳州市钢铁集团有限公司"),
    ("上海市医药有限公司", "上海医药集团"),
    ("臺灣積體電路製造股份有限公司", "台湾积体电路制造"),
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
    # a place that is part of the name itself (too little left without it)
    ("北京大学", "南京大学"),
    ("北京大学", "大学"),
    ("上海医药", "医药"),
    ("郑州宇通集团有限公司", "洛阳宇通"),
    ("上海市场营销策划有限公司", "上海营销策划有限公司"),
]

# one key, but both names say a place and the places differ: two customers
SAME_KEY_OTHER_PLACE = [
    ("郑州宇通客车服务站", "洛阳宇通客车服务站"),
    ("浙江大学图书馆", "四川大学图书馆"),
    ("上海华东医药包装有限公司", "南京华东医药包装有限公司"),
    ("江苏中北巴士", "南京中北巴士"),  # no map of which city is in which province
]


@pytest.mark.parametrize(("a", "b"), MUST_COLLIDE)
def test_spellings_of_one_company_collide(a: str, b: str) -> None:
    assert name_key(a) == name_key(b) != ""


@pytest.mark.parametrize(("a", "b"), MUST_NOT_COLLIDE)
def test_different_companies_do_not_collide(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


@pytest.mark.parametrize(("a", "b"), MUST_COLLIDE)
def test_spellings_of_one_company_are_one_company(a: str, b: str) -> None:
    assert same_company(a, b) and same_company(b, a)


@pytest.mark.parametrize(("a", "b"), MUST_NOT_COLLIDE + SAME_KEY_OTHER_PLACE)
def test_different_companies_are_not_one_company(a: str, b: str) -> None:
    assert not same_company(a, b) and not same_company(b, a)


@pytest.mark.parametrize(("a", "b"), SAME_KEY_OTHER_PLACE)
def test_two_places_share_a_key_but_not_a_company(a: str, b: str) -> None:
    assert name_key(a) == name_key(b) != ""
    assert not places_agree(name_places(a), name_places(b))


@pytest.mark.parametrize(
    ("name", "key", "places"),
    [
        ("上海华东医药包装有限责任公司", "华东医药包装", {"上海"}),
        ("華東醫藥包裝有限公司", "华东医药包装", set()),
        ("江苏省南京市中北巴士有限公司", "中北巴士", {"江苏", "南京"}),
        ("新疆维吾尔自治区乌鲁木齐市天山毛纺织", "天山毛纺织", {"新疆", "乌鲁木齐"}),
        ("香港特別行政區長江實業集團", "长江实业", {"香港"}),
        ("上海市场营销策划有限公司", "市场营销策划", {"上海"}),
        ("上海市政工程设计研究院", "市政工程设计研究院", {"上海"}),
        ("上海市市政工程设计研究院", "市政工程设计研究院", {"上海"}),
        ("北京大学", "北京大学", set()),
        ("北京市大学", "北京大学", set()),
        ("北京大学出版社", "大学出版社", {"北京"}),
        ("郑州宇通集团有限公司", "郑州宇通", set()),
        ("宇通客车服务站(郑州)", "宇通客车服务站郑州", set()),  # a branch: kept in the key
        ("中国国旅总公司", "中国国旅", set()),
        ("常德", "常德", set()),  # a person's name that is a city's
        ("上海有限公司", "上海", set()),
    ],
)
def test_known_parts(name: str, key: str, places: set[str]) -> None:
    assert name_parts(name).key == key
    assert name_parts(name).places == frozenset(places)


def test_places_agree_when_one_set_holds_the_other() -> None:
    nanjing, jiangsu = frozenset({"南京"}), frozenset({"江苏"})
    assert places_agree(frozenset(), nanjing) and places_agree(nanjing, frozenset())
    assert places_agree(nanjing, nanjing | jiangsu)
    assert not places_agree(nanjing, jiangsu)


def test_the_place_table_is_one_spelling_per_place() -> None:
    assert not set(CITIES) & set(PROVINCES)  # 吉林 is listed once, as the province
    assert len(set(CITIES)) == len(CITIES)
    assert all(len(form) >= 2 for form in FORMS)
    # every place, whichever way written, gives its short form
    assert {FORMS[f"{city}市"] for city in CITIES} == set(CITIES)
    assert FORMS["广西壮族自治区"] == "广西" and FORMS["吉林市"] == "吉林"


@pytest.mark.parametrize("rest", ["医药", "医药包", "医药包装"])
def test_a_place_is_dropped_only_with_enough_left(rest: str) -> None:
    key, places = strip_places("上海" + rest)
    assert (key == rest) is (len(rest) >= MIN_REST)
    assert places == (frozenset({"上海"}) if len(rest) >= MIN_REST else frozenset())


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
     "co", "ltd", "inc", ".", ",", "·", "宇通", "郑州", "Acme", "ＡＢ", "z",
     "上海", "市", "场", "江苏省", "華東", "醫藥", "有限責任公司", "瞭", "解", "薴"]
)
_NAMES = st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=12).map("".join))


@settings(max_examples=400, deadline=None)
@given(_NAMES)
def test_key_is_idempotent_and_never_raises(name: str) -> None:
    key = name_key(name)
    assert isinstance(key, str)
    assert name_key(key) == key
    # the places are what the key lost: the key of the key has none left to lose
    assert name_places(key) == frozenset()


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
