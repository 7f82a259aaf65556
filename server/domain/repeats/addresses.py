"""One key for the ways people write the same place (地址归一化).

`cpca` (a Chinese address library: province, city, district) takes the administrative
prefix off ("广东省深圳市福田区", "深圳福田", or none: an office in one district often writes
none), then our own rules keep what names the place: the road and its house number
(福华三路100号), or else a named place (金色家园小区, 金嗓子KTV). Units, floors, rooms and
buildings inside a compound, and words like 附近/对面/门口, are dropped: a complaint about
noise at "中山路十二号3栋2单元" is about the place "中山路12号".

The district is not in the key: one Fieldcase serves one district office, whose sheets
write it or not at will; same category, window and the radius narrow the rest.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

KEY_MAX = 200
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUM = "零〇一二两三四五六七八九十百千"
# A Chinese number right before what counts in an address (十二号 -> 12号, 三栋 -> 3栋).
_CN_BEFORE = re.compile(f"([{_CN_NUM}]+)(?=号|栋|幢|座|单元|层|楼|室|弄|巷)")
_NOT_KEPT = re.compile(r"[\s\W_]+", re.UNICODE)  # spaces and punctuation (after NFKC)
# Words around a place that do not change which place it is.
_VAGUE = re.compile(r"(附近|旁边|旁|对面|门口|周边|周围|一带|楼下|路口|东侧|西侧|南侧|北侧|"
                    r"东面|西面|南面|北面|处|内|里面)+$")
# Inside a compound: building, unit, floor, room (3号楼, A座, 2单元, 5层, 501室).
_INSIDE = re.compile(r"([A-Za-z]|\d+)(号楼|栋|幢|座)|\d+单元|\d+(层|楼)|\d+(室|房|户)")
# Sub-district prefixes an office writes or not: 城中街道, 某某镇, 某某社区.
_SUBDISTRICT = re.compile(r"^[\u4e00-\u9fff]{2,6}?(街道办事处|街道办|街道|镇|乡|社区居委会|社区)"
                          r"(?=[\u4e00-\u9fff])")
_ROAD_NUMBER = re.compile(r"(大道|路|街|巷|道|弄|胡同)(\d+(?:-\d+)?)号")
# Where a road's name starts: after an administrative word or a number.
_ROAD_START = re.compile(r".*(省|市|区|县|街道|镇|乡|社区|村|\d)")
_PLACE = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{1,12}?(小区|花园|家园|广场|大厦|商场|市场|公园|"
                    r"酒店|宾馆|饭店|餐厅|酒吧|KTV|工地|工厂|厂|公司|学校|中学|小学|幼儿园|"
                    r"医院|公寓|新村|新城|苑|府|城)")
_ROAD_SUFFIX = ("大道", "路", "街", "巷", "道", "弄", "胡同")


def cn_number(text: str) -> int:
    """十二 -> 12, 一百零五 -> 105, 三五 -> 35 (digit by digit when no 十/百/千)."""
    if not any(ch in _UNITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total, digit = 0, None
    for ch in text:
        if ch in _UNITS:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        else:
            digit = _DIGITS[ch]
    return total + (digit or 0)


def clean(address: str) -> str:
    """NFKC (full-width to half-width), no spaces or punctuation, Chinese numbers before
    号/栋/单元... as digits, upper-case Latin letters (ktv, KTV)."""
    text = _NOT_KEPT.sub("", unicodedata.normalize("NFKC", address or "")).upper()
    return _CN_BEFORE.sub(lambda m: str(cn_number(m.group(1))), text)


def _without_admin(texts: Sequence[str]) -> list[str]:
    """Each text without its province/city/district prefix, as cpca finds it. cpca reads
    a road named after a city (中山路, 南京路) as the city: a remainder starting with a
    road's suffix, or that is not the text's own ending, is refused and the text kept."""
    if not texts:
        return []
    out = []
    for text, rest in zip(texts, _cpca_rests(texts), strict=True):
        if (not isinstance(rest, str) or (isinstance(rest, float) and math.isnan(rest))
                or not rest or not text.endswith(rest) or rest.startswith(_ROAD_SUFFIX)):
            out.append(text)
        else:
            out.append(rest)
    return out


def _cpca_rests(texts: Sequence[str]) -> list[object]:
    """cpca's "地址" (what follows the province/city/district) of each text. Its one-text
    extractor, without the DataFrame `transform` builds around it: pandas costs about a
    millisecond a call and seconds to import, for one row (a case as it arrives). Loaded
    on first use (cpca reads its table of places on import)."""
    import cpca

    one = getattr(cpca, "_get_one_addr", None)
    if one is None:  # another cpca: its public, slower way
        return cpca.transform(list(texts))["地址"].tolist()
    return [one(text, False, {}).get("地址") for text in texts]


def _key_of(rest: str) -> str | None:
    rest = _SUBDISTRICT.sub("", rest)
    rest = _INSIDE.sub("|", rest)  # a mark, so a building's number never reads as 号
    found = None
    for match in _ROAD_NUMBER.finditer(rest):
        before = rest[:match.start()]
        start = _ROAD_START.match(before)
        name = before[start.end():] if start else before
        name = name.split("|")[-1][-10:]
        if name:
            found = f"{name}{match.group(1)}{match.group(2)}号"
            break
    if found is None:
        place = _PLACE.search(rest.replace("|", ""))
        if place:
            found = place.group(0)
    if found is None:
        found = _VAGUE.sub("", rest.split("|")[0])
    return found[:KEY_MAX] or None


def address_keys(addresses: Sequence[str | None]) -> list[str | None]:
    """The key of each address (None for an empty one), cpca called once for them all."""
    cleaned = [clean(a or "") for a in addresses]
    todo = sorted({c for c in cleaned if c and c not in _CACHE})
    for text, rest in zip(todo, _without_admin(todo), strict=True):
        if len(_CACHE) > 50_000:
            _CACHE.clear()
        _CACHE[text] = _key_of(rest)
    return [_CACHE[c] if c else None for c in cleaned]


_CACHE: dict[str, str | None] = {}


@lru_cache(maxsize=4096)
def address_key(address: str | None) -> str | None:
    return address_keys([address])[0]
