"""China's province-level regions, and the one a phone number most likely belongs to.

A customer's ``province`` and a user's ``region`` hold the short Chinese name ("上海",
"江苏", "广西"); people and carriers write it many ways ("江苏省", "上海市", "广西壮族
自治区", "Jiangsu"). ``province_key`` folds those to the short name, so a customer and an
account manager of one region compare equal.

``province_of_number`` is a GUESS for the unknown caller's quick-create (issue 14 item 7):
``phonenumbers``' geocoder names where a landline's area code is, or where a mobile
number was registered, which is often but not always where the company is. The agent
sees it preselected and may change it.

Rules: pure, never raises (input comes from the phone network and from forms).
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import geocoder

# the 34 province-level divisions: (short Chinese name, English name, the full forms
# written in registered names and addresses). The one table of them: the duplicate
# guard's leading places (crm_core.name_places) read it too.
_TABLE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("北京", "Beijing", ("北京市",)), ("天津", "Tianjin", ("天津市",)),
    ("河北", "Hebei", ("河北省",)), ("山西", "Shanxi", ("山西省",)),
    ("内蒙古", "Inner Mongolia", ("内蒙古自治区",)), ("辽宁", "Liaoning", ("辽宁省",)),
    ("吉林", "Jilin", ("吉林省",)), ("黑龙江", "Heilongjiang", ("黑龙江省",)),
    ("上海", "Shanghai", ("上海市",)), ("江苏", "Jiangsu", ("江苏省",)),
    ("浙江", "Zhejiang", ("浙江省",)), ("安徽", "Anhui", ("安徽省",)),
    ("福建", "Fujian", ("福建省",)), ("江西", "Jiangxi", ("江西省",)),
    ("山东", "Shandong", ("山东省",)), ("河南", "Henan", ("河南省",)),
    ("湖北", "Hubei", ("湖北省",)), ("湖南", "Hunan", ("湖南省",)),
    ("广东", "Guangdong", ("广东省",)), ("广西", "Guangxi", ("广西壮族自治区", "广西自治区")),
    ("海南", "Hainan", ("海南省",)), ("重庆", "Chongqing", ("重庆市",)),
    ("四川", "Sichuan", ("四川省",)), ("贵州", "Guizhou", ("贵州省",)),
    ("云南", "Yunnan", ("云南省",)), ("西藏", "Tibet", ("西藏自治区",)),
    ("陕西", "Shaanxi", ("陕西省",)), ("甘肃", "Gansu", ("甘肃省",)),
    ("青海", "Qinghai", ("青海省",)), ("宁夏", "Ningxia", ("宁夏回族自治区", "宁夏自治区")),
    ("新疆", "Xinjiang", ("新疆维吾尔自治区", "新疆自治区")),
    ("香港", "Hong Kong", ("香港特别行政区",)), ("澳门", "Macau", ("澳门特别行政区",)),
    ("台湾", "Taiwan", ("台湾省",)),
)
PROVINCES: tuple[tuple[str, str], ...] = tuple((zh, en) for zh, en, _ in _TABLE)
FULL_FORMS: dict[str, tuple[str, ...]] = {zh: forms for zh, _, forms in _TABLE}
_BY_ENGLISH = {en.lower(): zh for zh, en in PROVINCES}
# numbers of these regions are their own country codes, not +86 area codes
_BY_REGION_CODE = {"HK": "香港", "MO": "澳门", "TW": "台湾"}
_MAX_TEXT = 100


def province_key(text: object) -> str | None:
    """The short Chinese name of the province ``text`` names ("江苏省常州市" -> "江苏",
    "Shanghai" -> "上海"), or None when it names none."""
    if not isinstance(text, str):
        return None
    value = text.strip()[:_MAX_TEXT]
    if not value:
        return None
    for zh, _ in PROVINCES:
        if value.startswith(zh):
            return zh
    return _BY_ENGLISH.get(" ".join(value.replace(",", " ").split()).lower())


def english_name(province: str) -> str | None:
    """The English name of a short Chinese province name."""
    return next((en for zh, en in PROVINCES if zh == province), None)


@lru_cache(maxsize=8192)
def province_of_number(number: str | None) -> str | None:
    """The province a number (E.164, or anything ``phonenumbers`` parses with region
    CN) most likely belongs to, or None when its location is unknown."""
    if not number or not isinstance(number, str) or len(number) > 32:
        return None
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException:
        return None
    special = _BY_REGION_CODE.get(phonenumbers.region_code_for_number(parsed) or "")
    if special is not None:
        return special
    if parsed.country_code != 86:
        return None
    return province_key(geocoder.description_for_number(parsed, "zh"))
