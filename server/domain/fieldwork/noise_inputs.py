"""The bounds and cross-field rules of a reading's input, kept as data (the "inputs"
section of data/noise_rules.json).

The API refuses input that breaks them (422 naming the field) and serves the same data to
the app (GET /api/standards/noise), which checks it before saving: one set of rules, so a
check the phone accepts is never refused for a bound the phone did not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.domain.fieldwork import standards


def input_rules() -> dict[str, Any]:
    return dict(standards.noise_rules()["inputs"])


def input_range(field: str) -> tuple[float, float]:
    """(min, max), both allowed, of a numeric field ("weather.wind_ms" for a nested one)."""
    bound = input_rules()["ranges"][field]
    return float(bound["min"]), float(bound["max"])


def message(code: str, lang: str = "en", **params: Any) -> str:
    filled = {k: f"{v:g}" if isinstance(v, float) else v for k, v in params.items()}
    return str(input_rules()["messages"][code][lang]).format(**filled)


def range_message(field: str, lang: str = "en") -> str:
    bound = input_rules()["ranges"][field]
    return message("out_of_range", lang, min=float(bound["min"]), max=float(bound["max"]),
                   unit=bound["unit"])


def relation_problems(reading: Mapping[str, Any]) -> dict[str, list[str]]:
    """{field: [message]} for each relation between fields the reading breaks. A relation
    names its field and one of: requires (another field given too), not_above / not_below
    (another field's value), only_with ({field: allowed values})."""
    errors: dict[str, list[str]] = {}
    for rule in input_rules()["relations"]:
        value = reading.get(rule["field"])
        if value is None:
            continue
        broken = False
        if "requires" in rule:
            broken = reading.get(rule["requires"]) is None
        elif "not_above" in rule:
            other = reading.get(rule["not_above"])
            broken = other is not None and value > other
        elif "not_below" in rule:
            other = reading.get(rule["not_below"])
            broken = other is not None and value < other
        elif "only_with" in rule:
            broken = any(reading.get(name) not in allowed
                         for name, allowed in rule["only_with"].items())
        if broken:
            errors.setdefault(rule["field"], []).append(message(rule["code"]))
    return errors
