"""Measurement limits kept as versioned data (data/noise_limits.json), and the rules of
how a reading is taken and judged (data/noise_rules.json).

A city's stricter limit goes into "overrides" in that file, or is given with the reading
as limit_dba; the judgement stores which limit and standard it used. Every limit a
reading is judged against is looked up here, whatever the position it was taken at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from server.domain.core import vocab

DATA = Path(__file__).parents[1] / "data" / "noise_limits.json"
RULES = Path(__file__).parents[1] / "data" / "noise_rules.json"
# The standard of a category no standard names, and where a reading is taken when the
# record does not say (the boundary, as before the record had a position): data, which
# the app reads too.
_DEFAULTS = json.loads(RULES.read_text(encoding="utf-8"))["defaults"]
DEFAULT_STANDARD: str = _DEFAULTS["standard"]
DEFAULT_POSITION: str = _DEFAULTS["position"]


@dataclass(frozen=True)
class Judgement:
    limit_dba: float | None
    standard: str | None
    exceeded: bool | None
    excess_dba: float | None


@dataclass(frozen=True)
class Limit:
    """The Leq limit for one reading, the standard (or override, or "given") it came from,
    and the rule that sets it with its clause."""

    limit_dba: float
    standard: str
    rule: str
    clause: str | None


@cache
def noise_standards() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


@cache
def noise_rules() -> dict:
    return json.loads(RULES.read_text(encoding="utf-8"))


def standard_code(category: str) -> str:
    return str(_standard_for(category)["code"])


def rules_for(category: str) -> tuple[str, dict]:
    """The code of the standard a case category is judged by, and its measuring rules."""
    code = standard_code(category)
    return code, noise_rules()["standards"][code]


def rules_of(code: str | None) -> tuple[str, dict]:
    """The measuring rules of a standard by its code; the default standard's for an
    override's or a given limit's code."""
    standards = noise_rules()["standards"]
    if code in standards:
        return str(code), standards[code]
    return DEFAULT_STANDARD, standards[DEFAULT_STANDARD]


def _standard_for(category: str) -> dict:
    data = noise_standards()
    for std in data["standards"]:
        if category in std["categories"]:
            return std
    return next(s for s in data["standards"] if s["code"] == DEFAULT_STANDARD)


def noise_limit(category: str, zone_class: str | None, period: str) -> tuple[float, str] | None:
    """The limit in dB(A) and its standard for a case category, zone class and period."""
    data = noise_standards()
    for override in data.get("overrides", []):
        if (category in override.get("categories", [category])
                and override.get("zone_class") in (None, zone_class)
                and period in override["limits_dba"]):
            return float(override["limits_dba"][period]), override["code"]
    std = _standard_for(category)
    limits = std["limits_dba"].get("*") or std["limits_dba"].get(zone_class or "")
    if limits is None:
        return None
    return float(limits[period]), std["code"]


def leq_limit(category: str, zone_class: str | None, period: str, *,
              position: str | None = None, room_class: str | None = None,
              given: float | None = None) -> Limit | None:
    """The Leq limit for a reading taken at `position`: the boundary table (with a city's
    override), less the indoor reduction where the standard asks one, or the indoor
    table for structure-borne noise. A limit given with the reading wins as given.
    None when the record lacks what picks the limit (zone class, room class)."""
    if given is not None:
        given_rule = noise_rules()["given_limit"]
        return Limit(float(given), "given", given_rule["code"], given_rule["clause"])
    code, rules = rules_for(category)
    position = position if position in rules["positions"] else DEFAULT_POSITION
    place, leq = rules["positions"][position], rules["leq_rules"][position]
    clause = f"{code} {leq['clause']}"
    if place["limit"] == "indoor_table":
        row = rules["indoor_limits_dba"]["table"].get(zone_class or "", {}).get(room_class or "")
        return Limit(float(row[period]), code, leq["code"], clause) if row else None
    found = noise_limit(category, zone_class, period)
    if found is None:
        return None
    limit, standard = found
    if standard != code:  # a city's override sets the figure, the standard how it applies
        clause = f"{standard}; {clause}"
    return Limit(limit - float(place.get("reduction_db", 0)), standard, leq["code"], clause)


def judge_noise(value_dba: float, *, category: str, zone_class: str | None, period: str,
                limit_dba: float | None = None) -> Judgement:
    if limit_dba is not None:
        limit, standard = float(limit_dba), "given"
    else:
        found = noise_limit(category, zone_class, period)
        if found is None:
            return Judgement(None, None, None, None)
        limit, standard = found
    excess = round(value_dba - limit, 1)
    return Judgement(limit, standard, excess > 0, excess)


def night_max_excess_dba(code: str) -> float | None:
    """The margin by which any night Lmax may exceed the limit, where a standard sets one
    whatever the kind of noise (GB 12523-2011 4.2); kept in the rules data."""
    rules = noise_rules()["standards"].get(code, {})
    margins = [r["margin_db"] for r in rules.get("lmax", [])
               if r["noise_types"] is None and r["periods"] == ["night"]]
    return float(margins[0]) if margins else None


def noise_limits_table() -> dict[str, dict[str, dict[str, float | None]]]:
    """{category: {zone_class: {"day": limit, "night": limit}}}, by noise_limit itself, so
    the field app can show beside a reading the limit the server will judge it against.

    Categories no standard names fall back to the default standard, as judging does; a
    category or zone class with no limit at all is left out.
    """
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for category in vocab.CATEGORIES:
        zones: dict[str, dict[str, float | None]] = {}
        for zone_class in vocab.ZONE_CLASSES:
            found = {period: noise_limit(category, zone_class, period)
                     for period in vocab.PERIODS}
            if any(found.values()):
                zones[zone_class] = {period: limit[0] if limit else None
                                     for period, limit in found.items()}
        if zones:
            table[category] = zones
    return table
