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

# (short Chinese name, English name): the 34 province-level divisions
PROVINCES: tuple[tuple[str, str], ...] = (
    ("北京", "Beijing"), ("天津", "Tianjin"), ("河北", "Hebei"), ("山西", "Shanxi"),
    ("内蒙古", "Inner Mongolia"), ("辽宁", "Liaoning"), ("吉林", "Jilin"),
    ("黑龙江", "Heilongjiang"), ("上海", "Shanghai"), ("江苏", "Jiangsu"),
    ("浙江", "Zhejiang"), ("安徽", "Anhui"), ("福建", "Fujian"), ("江西", "Jiangxi"),
    ("山东", "Shandong"), ("河南", "Henan"), ("湖北", "Hubei"), ("湖南", "Hunan"),
    ("广东", "Guangdong"), ("广西", "Guangxi"), ("海南", "Hainan"), ("重庆", "Chongqing"),
    ("四川", "Sichuan"), ("贵州", "Guizhou"), ("云南", "Yunnan"), ("西藏", "Tibet"),
    ("陕西", "Shaanxi"), ("甘肃", "Gansu"), ("青海", "Qinghai"), ("宁夏", "Ningxia"),
    ("新疆", "Xinjiang"), ("香港", "Hong Kong"), ("澳门", "Macau"), ("台湾", "Taiwan"),
)
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
