"""Every problem's message in Chinese and English: one table (data/problem_messages.json)
of code -> {zh, en}, read by the API's problem+json so a refusal reaches the app in the
user's language (the app never shows the server's English in the Chinese UI)."""

from __future__ import annotations

import json
import re
import string
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parents[1] / "data" / "problem_messages.json"
LANGS = ("zh", "en")
# Rules data that words its own refusals in both languages ({code: {zh, en}} at this
# path): a per-field message in one of those English wordings takes its Chinese twin.
BILINGUAL = ((DATA.parent / "noise_rules.json", ("inputs", "messages")),)


@cache
def table() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def _template_pattern(template: str) -> str:
    """An English template ("Must be between {min} and {max} {unit}.") as a regex whose
    groups are its placeholders."""
    out = "^"
    for literal, name, _, _ in string.Formatter().parse(template):
        out += re.escape(literal)
        if name:
            out += f"(?P<{name}>.+?)"
    return out + "$"


def _bilingual() -> list[tuple[str, str]]:
    found = []
    for path, keys in BILINGUAL:
        if not path.exists():
            continue
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        for key in keys:
            data = data.get(key, {}) if isinstance(data, dict) else {}
        found += [(_template_pattern(words["en"]), words["zh"]) for words in data.values()
                  if isinstance(words, dict) and words.get("en") and words.get("zh")]
    return found


@cache
def _field_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(pattern, re.DOTALL), words)
                 for pattern, words in [*_bilingual(), *table()["fields"]])


def _fill(template: str, params: dict[str, Any]) -> str | None:
    """The template with its {placeholders}; None when a placeholder has no value (the
    caller then says it without the detail rather than show a brace)."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if any(params.get(name) is None for name in names):
        return None
    return template.format_map({name: params[name] for name in names})


def messages(code: str, status: int, params: dict[str, Any] | None = None) -> dict[str, str]:
    """{zh, en} for the code; a code the table lacks falls back on words for its status
    (never the code itself)."""
    data = table()
    entry = data["codes"].get(code) or data["status"].get(str(status)) \
        or data["status"]["other"]
    fallback = data["status"].get(str(status)) or data["status"]["other"]
    return {lang: _fill(entry[lang], params or {}) or fallback[lang] for lang in LANGS}


def field_zh(message: str) -> str:
    """One per-field message (marshmallow's or the server's, English) in Chinese."""
    for pattern, words in _field_patterns():
        found = pattern.match(message)
        if found:
            return words.format_map(found.groupdict())
    return "此项填写有误。"


def errors_zh(errors: Any) -> Any:
    """The per-field messages, however nested ({field: [..]}, {index: {field: [..]}}), in
    Chinese, shaped as they were."""
    if isinstance(errors, str):
        return field_zh(errors)
    if isinstance(errors, list):
        return [errors_zh(item) for item in errors]
    if isinstance(errors, dict):
        return {key: errors_zh(value) for key, value in errors.items()}
    return errors


def preferred(accept_language: str | None) -> str:
    """zh or en from an Accept-Language header (Chinese unless English ranks higher)."""
    best, best_q = "zh", -1.0
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        lang = tag.strip().lower().split("-")[0]
        if lang not in LANGS:
            continue
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if weight > best_q:
            best, best_q = lang, weight
    return best
