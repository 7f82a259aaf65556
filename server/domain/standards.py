"""Measurement limits kept as versioned data (data/noise_limits.json).

A city's stricter limit goes into "overrides" in that file, or is given with the reading
as limit_dba; the judgement stores which limit and standard it used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from server.domain import vocab

DATA = Path(__file__).with_name("data") / "noise_limits.json"
DEFAULT_STANDARD = "GB 22337-2008"


@dataclass(frozen=True)
class Judgement:
    limit_dba: float | None
    standard: str | None
    exceeded: bool | None
    excess_dba: float | None


@cache
def noise_standards() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


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
