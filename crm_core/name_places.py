"""Leading place names of Chinese company names, for the duplicate guard's name key.

A registered Chinese company name reads place + trade name + trade + legal form
(``上海`` ``华东`` ``医药包装`` ``有限责任公司``), and people drop the place as often as
they drop the legal form: ``华东医药包装有限公司`` is the same firm. Pure, no I/O.

Rules (``strip_places``, applied to a name key: folded, simplified, no punctuation):
- a place is a province-level region or a prefecture-level city of mainland China, or
  Hong Kong, Macao, Taiwan, as written in ``PROVINCES`` and ``CITIES``, in its short
  form (``上海``, ``广西``) or with its administrative suffix (``上海市``, ``江苏省``,
  ``广西壮族自治区``, ``香港特别行政区``); each gives its short form as the place;
- places are taken from the START of the name only, one after another
  (``江苏省南京市中北巴士`` -> {江苏, 南京}, ``中北巴士``), and only while at least
  ``MIN_REST`` characters stay behind: a trade name and a trade are two characters
  each, so a shorter rest means the place is part of the name itself (``北京大学``,
  ``上海医药``, ``郑州宇通`` keep their place, in its short form: ``上海市医药`` is
  ``上海医药``);
- ``市场`` (market), ``市政`` (municipal), ``市民``, ``市容`` are words:
  ``上海市场调研`` is 上海 + 市场调研, not 上海市 + 场调研;
- a place anywhere else (``宇通客车服务站(郑州)``, a branch) is not touched here.

Two names with one key are then the same company when their place sets agree
(``crm_core.names.places_agree``): equal, one of them empty, or one inside the other.
"""

from __future__ import annotations

from numbering.regions import FULL_FORMS

# province-level regions: short form -> the full forms written in registered names (the
# one table of them, shared with the quick-create's regions)
PROVINCES: dict[str, tuple[str, ...]] = FULL_FORMS

# prefecture-level cities (written with or without 市), grouped by province
CITIES: tuple[str, ...] = (
    # 河北
    "石家庄", "唐山", "秦皇岛", "邯郸", "邢台", "保定", "张家口", "承德", "沧州", "廊坊", "衡水",
    # 山西
    "太原", "大同", "阳泉", "长治", "晋城", "朔州", "晋中", "运城", "忻州", "临汾", "吕梁",
    # 内蒙古
    "呼和浩特", "包头", "乌海", "赤峰", "通辽", "鄂尔多斯", "呼伦贝尔", "巴彦淖尔", "乌兰察布",
    # 辽宁
    "沈阳", "大连", "鞍山", "抚顺", "本溪", "丹东", "锦州", "营口", "阜新", "辽阳", "盘锦",
    "铁岭", "朝阳", "葫芦岛",
    # 吉林 (the city of 吉林 is the province's name too)
    "长春", "四平", "辽源", "通化", "白山", "松原", "白城",
    # 黑龙江
    "哈尔滨", "齐齐哈尔", "鸡西", "鹤岗", "双鸭山", "大庆", "伊春", "佳木斯", "七台河",
    "牡丹江", "黑河", "绥化",
    # 江苏
    "南京", "无锡", "徐州", "常州", "苏州", "南通", "连云港", "淮安", "盐城", "扬州", "镇江",
    "泰州", "宿迁",
    # 浙江
    "杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水",
    # 安徽
    "合肥", "芜湖", "蚌埠", "淮南", "马鞍山", "淮北", "铜陵", "安庆", "黄山", "滁州", "阜阳",
    "宿州", "六安", "亳州", "池州", "宣城",
    # 福建
    "福州", "厦门", "莆田", "三明", "泉州", "漳州", "南平", "龙岩", "宁德",
    # 江西
    "南昌", "景德镇", "萍乡", "九江", "新余", "鹰潭", "赣州", "吉安", "宜春", "抚州", "上饶",
    # 山东
    "济南", "青岛", "淄博", "枣庄", "东营", "烟台", "潍坊", "济宁", "泰安", "威海", "日照",
    "临沂", "德州", "聊城", "滨州", "菏泽",
    # 河南
    "郑州", "开封", "洛阳", "平顶山", "安阳", "鹤壁", "新乡", "焦作", "濮阳", "许昌", "漯河",
    "三门峡", "南阳", "商丘", "信阳", "周口", "驻马店",
    # 湖北
    "武汉", "黄石", "十堰", "宜昌", "襄阳", "鄂州", "荆门", "孝感", "荆州", "黄冈", "咸宁",
    "随州",
    # 湖南
    "长沙", "株洲", "湘潭", "衡阳", "邵阳", "岳阳", "常德", "张家界", "益阳", "郴州", "永州",
    "怀化", "娄底",
    # 广东
    "广州", "韶关", "深圳", "珠海", "汕头", "佛山", "江门", "湛江", "茂名", "肇庆", "惠州",
    "梅州", "汕尾", "河源", "阳江", "清远", "东莞", "中山", "潮州", "揭阳", "云浮",
    # 广西
    "南宁", "柳州", "桂林", "梧州", "北海", "防城港", "钦州", "贵港", "玉林", "百色", "贺州",
    "河池", "来宾", "崇左",
    # 海南
    "海口", "三亚", "三沙", "儋州",
    # 四川
    "成都", "自贡", "攀枝花", "泸州", "德阳", "绵阳", "广元", "遂宁", "内江", "乐山", "南充",
    "眉山", "宜宾", "广安", "达州", "雅安", "巴中", "资阳",
    # 贵州
    "贵阳", "六盘水", "遵义", "安顺", "毕节", "铜仁",
    # 云南
    "昆明", "曲靖", "玉溪", "保山", "昭通", "丽江", "普洱", "临沧",
    # 西藏
    "拉萨", "日喀则", "昌都", "林芝", "山南", "那曲",
    # 陕西
    "西安", "铜川", "宝鸡", "咸阳", "渭南", "延安", "汉中", "榆林", "安康", "商洛",
    # 甘肃
    "兰州", "嘉峪关", "金昌", "白银", "天水", "武威", "张掖", "平凉", "酒泉", "庆阳", "定西",
    "陇南",
    # 青海
    "西宁", "海东",
    # 宁夏
    "银川", "石嘴山", "吴忠", "固原", "中卫",
    # 新疆
    "乌鲁木齐", "克拉玛依", "吐鲁番", "哈密",
)

MIN_REST = 4  # characters that must stay after a place for it to be dropped
_SHI_WORDS = ("场", "政", "民", "容")  # 市场 市政 市民 市容: a word, not a city's 市


def _written_forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for short, full in PROVINCES.items():
        forms[short] = short
        for form in full:
            forms[form] = short
    for city in CITIES:
        forms[city] = city
        forms[city + "市"] = city
    forms["吉林市"] = "吉林"
    return forms


FORMS: dict[str, str] = _written_forms()  # written form -> its place (short form)
_LONGEST = max(len(form) for form in FORMS)


def leading_place(text: str) -> tuple[str, int] | None:
    """The place ``text`` starts with and how many characters it takes, longest
    written form first; None when it starts with none."""
    for size in range(min(_LONGEST, len(text)), 1, -1):
        place = FORMS.get(text[:size])
        if place is None:
            continue
        if text[size - 1] == "市" and text[size:].startswith(_SHI_WORDS):
            continue  # 市场 is "market": the shorter form without 市 is the place
        return place, size
    return None


def strip_places(key: str) -> tuple[str, frozenset[str]]:
    """``key`` without its leading places (see the module rules), and those places."""
    places: set[str] = set()
    while (found := leading_place(key)) is not None:
        place, size = found
        rest = key[size:]
        if len(rest) < MIN_REST:
            # too little left: the place is part of the name; written one way only
            return place + rest, frozenset(places)
        places.add(place)
        key = rest
    return key, frozenset(places)
