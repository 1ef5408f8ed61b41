"""Places of the service network: China's service regions, the cities the network and
its customers are in (with their coordinates), and the distance between two points.

Why a table of our own: routing needs "how far is this station from the caller's
site", and the places we know are a customer's province and city, or an asset's site
text ("郑州二七车场", "淄博二厂"). A prefecture-level city's centre is close enough for
"nearest station"; the table holds every city the demo network and customers use
(and the provincial capitals, the centre of a place known only by its province).

Rules: pure, never raises (input comes from forms and imports); province names are the
short forms of ``numbering.regions`` ("河南", "广西").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from numbering.regions import province_key

# the service regions of a Chinese service network: the regional hub of each takes what
# no station covers there
REGIONS: dict[str, tuple[str, ...]] = {
    "华北": ("北京", "天津", "河北", "山西", "内蒙古"),
    "东北": ("辽宁", "吉林", "黑龙江"),
    "华东": ("上海", "江苏", "浙江", "安徽", "福建", "江西", "山东", "台湾"),
    "华中": ("河南", "湖北", "湖南"),
    "华南": ("广东", "广西", "海南", "香港", "澳门"),
    "西南": ("重庆", "四川", "贵州", "云南", "西藏"),
    "西北": ("陕西", "甘肃", "青海", "宁夏", "新疆"),
}
REGION_EN = {"华北": "North China", "东北": "Northeast China", "华东": "East China",
             "华中": "Central China", "华南": "South China", "西南": "Southwest China",
             "西北": "Northwest China"}
_REGION_OF = {p: r for r, provinces in REGIONS.items() for p in provinces}

# (province, city, English name, latitude, longitude): the provincial capital first in
# each province (the centre of a place known only by its province)
CITIES: tuple[tuple[str, str, str, float, float], ...] = (
    ("北京", "北京", "Beijing", 39.904, 116.407), ("天津", "天津", "Tianjin", 39.084, 117.201),
    ("河北", "石家庄", "Shijiazhuang", 38.042, 114.515),
    ("河北", "唐山", "Tangshan", 39.63, 118.18), ("河北", "保定", "Baoding", 38.874, 115.465),
    ("河北", "邯郸", "Handan", 36.625, 114.539), ("河北", "沧州", "Cangzhou", 38.304, 116.839),
    ("河北", "廊坊", "Langfang", 39.538, 116.684),
    ("河北", "张家口", "Zhangjiakou", 40.824, 114.887),
    ("河北", "秦皇岛", "Qinhuangdao", 39.935, 119.6), ("山西", "太原", "Taiyuan", 37.87, 112.549),
    ("山西", "大同", "Datong", 40.077, 113.3), ("山西", "长治", "Changzhi", 36.195, 113.116),
    ("山西", "运城", "Yuncheng", 35.026, 111.007),
    ("内蒙古", "呼和浩特", "Hohhot", 40.842, 111.749), ("内蒙古", "包头", "Baotou", 40.657, 109.84),
    ("内蒙古", "鄂尔多斯", "Ordos", 39.608, 109.781),
    ("内蒙古", "赤峰", "Chifeng", 42.258, 118.887), ("辽宁", "沈阳", "Shenyang", 41.806, 123.432),
    ("辽宁", "大连", "Dalian", 38.914, 121.615), ("辽宁", "鞍山", "Anshan", 41.108, 122.995),
    ("辽宁", "锦州", "Jinzhou", 41.095, 121.127), ("吉林", "长春", "Changchun", 43.817, 125.324),
    ("吉林", "吉林", "Jilin", 43.838, 126.549), ("吉林", "延边", "Yanbian", 42.891, 129.509),
    ("黑龙江", "哈尔滨", "Harbin", 45.803, 126.535), ("黑龙江", "大庆", "Daqing", 46.59, 125.104),
    ("黑龙江", "齐齐哈尔", "Qiqihar", 47.354, 123.918),
    ("黑龙江", "牡丹江", "Mudanjiang", 44.552, 129.633),
    ("上海", "上海", "Shanghai", 31.23, 121.474), ("江苏", "南京", "Nanjing", 32.06, 118.797),
    ("江苏", "苏州", "Suzhou", 31.299, 120.585), ("江苏", "无锡", "Wuxi", 31.491, 120.312),
    ("江苏", "常州", "Changzhou", 31.811, 119.974), ("江苏", "南通", "Nantong", 31.98, 120.894),
    ("江苏", "徐州", "Xuzhou", 34.205, 117.284), ("江苏", "扬州", "Yangzhou", 32.394, 119.413),
    ("江苏", "泰州", "Taizhou (Jiangsu)", 32.456, 119.923),
    ("江苏", "盐城", "Yancheng", 33.348, 120.163),
    ("江苏", "连云港", "Lianyungang", 34.597, 119.222),
    ("浙江", "杭州", "Hangzhou", 30.274, 120.155), ("浙江", "宁波", "Ningbo", 29.868, 121.544),
    ("浙江", "温州", "Wenzhou", 27.994, 120.699), ("浙江", "嘉兴", "Jiaxing", 30.746, 120.755),
    ("浙江", "绍兴", "Shaoxing", 29.998, 120.582), ("浙江", "金华", "Jinhua", 29.079, 119.647),
    ("浙江", "台州", "Taizhou (Zhejiang)", 28.656, 121.421),
    ("浙江", "湖州", "Huzhou", 30.894, 120.087), ("安徽", "合肥", "Hefei", 31.821, 117.227),
    ("安徽", "芜湖", "Wuhu", 31.352, 118.433), ("安徽", "蚌埠", "Bengbu", 32.916, 117.389),
    ("安徽", "安庆", "Anqing", 30.543, 117.063), ("安徽", "阜阳", "Fuyang", 32.89, 115.814),
    ("福建", "福州", "Fuzhou", 26.074, 119.296), ("福建", "厦门", "Xiamen", 24.48, 118.089),
    ("福建", "泉州", "Quanzhou", 24.874, 118.676), ("福建", "漳州", "Zhangzhou", 24.513, 117.647),
    ("福建", "莆田", "Putian", 25.454, 119.008), ("江西", "南昌", "Nanchang", 28.682, 115.858),
    ("江西", "赣州", "Ganzhou", 25.831, 114.935), ("江西", "九江", "Jiujiang", 29.705, 116.001),
    ("江西", "上饶", "Shangrao", 28.454, 117.943), ("山东", "济南", "Jinan", 36.651, 117.12),
    ("山东", "青岛", "Qingdao", 36.067, 120.383), ("山东", "烟台", "Yantai", 37.464, 121.448),
    ("山东", "潍坊", "Weifang", 36.707, 119.162), ("山东", "淄博", "Zibo", 36.813, 118.055),
    ("山东", "临沂", "Linyi", 35.105, 118.356), ("山东", "济宁", "Jining", 35.415, 116.587),
    ("山东", "威海", "Weihai", 37.513, 122.12), ("山东", "德州", "Dezhou", 37.436, 116.359),
    ("山东", "聊城", "Liaocheng", 36.457, 115.985), ("河南", "郑州", "Zhengzhou", 34.747, 113.625),
    ("河南", "洛阳", "Luoyang", 34.62, 112.454), ("河南", "开封", "Kaifeng", 34.797, 114.307),
    ("河南", "新乡", "Xinxiang", 35.303, 113.926), ("河南", "南阳", "Nanyang", 32.991, 112.528),
    ("河南", "安阳", "Anyang", 36.098, 114.393), ("河南", "许昌", "Xuchang", 34.036, 113.852),
    ("河南", "商丘", "Shangqiu", 34.414, 115.656), ("河南", "信阳", "Xinyang", 32.147, 114.091),
    ("河南", "周口", "Zhoukou", 33.626, 114.697), ("湖北", "武汉", "Wuhan", 30.593, 114.305),
    ("湖北", "宜昌", "Yichang", 30.692, 111.286), ("湖北", "襄阳", "Xiangyang", 32.009, 112.122),
    ("湖北", "十堰", "Shiyan", 32.629, 110.798), ("湖北", "荆州", "Jingzhou", 30.335, 112.24),
    ("湖北", "黄石", "Huangshi", 30.2, 115.039), ("湖南", "长沙", "Changsha", 28.228, 112.939),
    ("湖南", "株洲", "Zhuzhou", 27.828, 113.134), ("湖南", "湘潭", "Xiangtan", 27.83, 112.945),
    ("湖南", "衡阳", "Hengyang", 26.894, 112.572), ("湖南", "岳阳", "Yueyang", 29.357, 113.129),
    ("湖南", "常德", "Changde", 29.032, 111.699), ("广东", "广州", "Guangzhou", 23.129, 113.264),
    ("广东", "深圳", "Shenzhen", 22.543, 114.058), ("广东", "东莞", "Dongguan", 23.021, 113.752),
    ("广东", "佛山", "Foshan", 23.022, 113.122), ("广东", "珠海", "Zhuhai", 22.271, 113.577),
    ("广东", "中山", "Zhongshan", 22.517, 113.393), ("广东", "惠州", "Huizhou", 23.112, 114.416),
    ("广东", "汕头", "Shantou", 23.354, 116.682), ("广东", "湛江", "Zhanjiang", 21.271, 110.359),
    ("广东", "江门", "Jiangmen", 22.579, 113.082), ("广东", "肇庆", "Zhaoqing", 23.047, 112.465),
    ("广东", "韶关", "Shaoguan", 24.81, 113.597), ("广西", "南宁", "Nanning", 22.817, 108.366),
    ("广西", "柳州", "Liuzhou", 24.326, 109.428), ("广西", "桂林", "Guilin", 25.274, 110.29),
    ("广西", "北海", "Beihai", 21.481, 109.12),
    ("广西", "玉林", "Yulin (Guangxi)", 22.654, 110.181),
    ("海南", "海口", "Haikou", 20.044, 110.199), ("海南", "三亚", "Sanya", 18.253, 109.512),
    ("重庆", "重庆", "Chongqing", 29.563, 106.551), ("四川", "成都", "Chengdu", 30.573, 104.066),
    ("四川", "绵阳", "Mianyang", 31.468, 104.679), ("四川", "德阳", "Deyang", 31.127, 104.398),
    ("四川", "宜宾", "Yibin", 28.752, 104.643), ("四川", "南充", "Nanchong", 30.837, 106.111),
    ("四川", "泸州", "Luzhou", 28.872, 105.443), ("四川", "乐山", "Leshan", 29.552, 103.766),
    ("四川", "达州", "Dazhou", 31.209, 107.468), ("贵州", "贵阳", "Guiyang", 26.647, 106.63),
    ("贵州", "遵义", "Zunyi", 27.725, 106.927), ("贵州", "六盘水", "Liupanshui", 26.593, 104.83),
    ("贵州", "毕节", "Bijie", 27.302, 105.285), ("云南", "昆明", "Kunming", 25.038, 102.718),
    ("云南", "曲靖", "Qujing", 25.49, 103.796), ("云南", "大理", "Dali", 25.607, 100.268),
    ("云南", "丽江", "Lijiang", 26.855, 100.227), ("云南", "玉溪", "Yuxi", 24.352, 102.543),
    ("西藏", "拉萨", "Lhasa", 29.65, 91.172), ("西藏", "日喀则", "Shigatse", 29.267, 88.881),
    ("陕西", "西安", "Xi'an", 34.342, 108.94), ("陕西", "宝鸡", "Baoji", 34.362, 107.238),
    ("陕西", "咸阳", "Xianyang", 34.329, 108.709),
    ("陕西", "榆林", "Yulin (Shaanxi)", 38.285, 109.735),
    ("陕西", "汉中", "Hanzhong", 33.068, 107.023), ("陕西", "延安", "Yan'an", 36.585, 109.49),
    ("甘肃", "兰州", "Lanzhou", 36.061, 103.834), ("甘肃", "天水", "Tianshui", 34.581, 105.725),
    ("甘肃", "酒泉", "Jiuquan", 39.732, 98.494), ("甘肃", "张掖", "Zhangye", 38.926, 100.45),
    ("青海", "西宁", "Xining", 36.617, 101.778), ("青海", "格尔木", "Golmud", 36.402, 94.903),
    ("宁夏", "银川", "Yinchuan", 38.487, 106.231),
    ("宁夏", "石嘴山", "Shizuishan", 38.984, 106.384),
    ("新疆", "乌鲁木齐", "Urumqi", 43.825, 87.617), ("新疆", "喀什", "Kashgar", 39.47, 75.99),
    ("新疆", "库尔勒", "Korla", 41.726, 86.174), ("新疆", "伊宁", "Yining", 43.909, 81.277),
    ("新疆", "克拉玛依", "Karamay", 45.58, 84.889), ("新疆", "哈密", "Hami", 42.818, 93.515),
    ("香港", "香港", "Hong Kong", 22.32, 114.17), ("澳门", "澳门", "Macau", 22.199, 113.544),
)
_CITY_SUFFIXES = ("市", "地区", "州", "盟")


@dataclass(frozen=True)
class Place:
    """Where something is: a province (short name), maybe a city, and its coordinates
    (None: unknown)."""

    province: str | None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None

    def label_zh(self) -> str:
        if self.city and self.city != self.province:
            return f"{self.province or ''}{self.city}"
        return self.province or self.city or "未知地点"

    def label_en(self) -> str:
        english = city_english(self.province, self.city) if self.city else None
        if english:
            return english
        from numbering.regions import PROVINCES
        return next((en for zh, en in PROVINCES if zh == self.province), "unknown place")


@lru_cache(maxsize=1)
def _index() -> tuple[dict[tuple[str, str], tuple[float, float, str]], dict[str, list[str]],
                      list[tuple[str, str]]]:
    coords = {(p, c): (lat, lon, en) for p, c, en, lat, lon in CITIES}
    by_province: dict[str, list[str]] = {}
    for p, c, *_ in CITIES:
        by_province.setdefault(p, []).append(c)
    # longest names first: "吉林" the city must not shadow a longer name in a text
    names = sorted(((c, p) for p, c, *_ in CITIES), key=lambda cp: -len(cp[0]))
    return coords, by_province, names


def region_of(province: str | None) -> str | None:
    """The service region (华北, 华东...) of a province, or None."""
    key = province_key(province) if province else None
    return _REGION_OF.get(key or "")


def clean_city(city: object) -> str | None:
    """``郑州市`` -> ``郑州``; None for empty or non-text."""
    if not isinstance(city, str):
        return None
    value = city.strip()[:50]
    for suffix in _CITY_SUFFIXES:
        if len(value) > len(suffix) + 1 and value.endswith(suffix):
            return value[: -len(suffix)]
    return value or None


def coordinates(province: str | None, city: str | None) -> tuple[float, float] | None:
    """The centre of ``city`` (of ``province``), or of the province's capital when only
    the province is known; None when neither is in the table."""
    coords, by_province, _ = _index()
    prov = province_key(province) if province else None
    name = clean_city(city)
    if prov and name and (prov, name) in coords:
        lat, lon, _ = coords[(prov, name)]
        return lat, lon
    if name and not prov:
        for (_, c), (lat, lon, _en) in coords.items():
            if c == name:
                return lat, lon
    if prov and prov in by_province:
        lat, lon, _ = coords[(prov, by_province[prov][0])]
        return lat, lon
    return None


def city_english(province: str | None, city: str | None) -> str | None:
    coords, _, _ = _index()
    found = coords.get((province_key(province) or "", clean_city(city) or ""))
    return found[2] if found else None


def city_in_text(text: object) -> tuple[str, str] | None:
    """(province, city) of the first known city named in ``text`` (an asset's site such
    as ``郑州二七车场``), or None."""
    if not isinstance(text, str) or not text:
        return None
    _, _, names = _index()
    snippet = text[:200]
    best: tuple[int, str, str] | None = None
    for city, province in names:
        at = snippet.find(city)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, province, city)
    return (best[1], best[2]) if best else None


def place_of(site: object, province: object, city: object) -> Place:
    """Where a repair is: the city an asset's ``site`` names, else the customer's
    ``province``/``city`` (a city of another province in the site wins: the machine is
    there), with the coordinates of that city (or of the province's capital)."""
    named = city_in_text(site)
    prov: str | None
    town: str | None
    if named is not None:
        prov, town = named
    else:
        prov = province_key(province) or None
        town = clean_city(city)
        if prov is None and town is not None:
            prov = next((p for p, c, *_ in CITIES if c == town), None)
        if prov is not None and town == prov and (prov, town) not in _index()[0]:
            town = None
    point = coordinates(prov, town)
    return Place(prov, town, point[0] if point else None, point[1] if point else None)


EARTH_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in km between two points (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))
