"""Questionnaire templates, versioned: a template is checked once when an admin saves it,
and every set of answers is checked against the version it was given under."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from server.domain.accounts.roles import (
    OFFICE_ROLES,
    REVISIT_ROLES,
    require_district_admin,
    require_role,
)
from server.domain.audit import audit
from server.domain.core import text
from server.domain.core.errors import Invalid, NotFound
from server.domain.core.uow import command
from server.domain.core.vocab import QUESTION_KINDS, SATISFACTION
from server.extensions import db
from server.models import Questionnaire, User
from server.reports.questionnaire_pdf import render_form

KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_QUESTIONS = 60
MAX_OPTIONS = 30
MAX_TEXT_ANSWER = 4000


def latest() -> list[Questionnaire]:
    newest = (sa.select(Questionnaire.code, sa.func.max(Questionnaire.version).label("v"))
              .group_by(Questionnaire.code).subquery())
    return list(db.session.scalars(sa.select(Questionnaire).join(
        newest, sa.and_(Questionnaire.code == newest.c.code,
                        Questionnaire.version == newest.c.v)).order_by(Questionnaire.code)))


def get(code: str, version: int | None = None, *, field: str = "questionnaire") -> Questionnaire:
    query = sa.select(Questionnaire).filter_by(code=code)
    query = query.filter_by(version=version) if version is not None else \
        query.order_by(Questionnaire.version.desc()).limit(1)
    found = db.session.scalar(query)
    if found is None:
        raise NotFound("questionnaire.not_found",
                       f"There is no questionnaire {code!r}"
                       + (f" version {version}." if version is not None else "."),
                       errors={field: ["No such questionnaire or version."]})
    return found


@command
def save(user: User, code: str, title: dict[str, str], questions: list[dict[str, Any]]
         ) -> Questionnaire:
    """A new version of `code` (version 1 when new); earlier versions stay as they were."""
    # Every revisit team receives the newest version: a district-wide setting.
    require_district_admin(user, "questionnaire.forbidden",
                           "Only an admin may define questionnaires.")
    errors = check_template(questions)
    if errors:
        raise Invalid("questionnaire.invalid", "The questionnaire's questions are not right.",
                      errors=errors)
    current = db.session.scalar(sa.select(sa.func.max(Questionnaire.version))
                                .where(Questionnaire.code == code)) or 0
    row = Questionnaire(code=code, version=current + 1, title=title,
                        questions=[_normalised(q) for q in questions], created_by=user.id)
    db.session.add(row)
    db.session.flush()  # the unique (code, version) refuses a concurrent same version
    audit.append("questionnaire.saved", "questionnaire", row.id, actor_id=user.id,
                 data={"code": code, "version": row.version, "questions": len(questions)})
    return row


def _normalised(q: dict[str, Any]) -> dict[str, Any]:
    out = {"key": q["key"], "kind": q["kind"], "label": q["label"],
           "required": bool(q.get("required"))}
    for name in ("options", "min", "max"):
        if q.get(name) is not None:
            out[name] = q[name]
    if q.get("satisfaction"):
        out["satisfaction"] = True
    return out


def check_template(questions: list[dict[str, Any]]) -> dict[str, Any]:
    """{questions: {index: {field: [messages]}}} for what is wrong; empty when right."""
    problems: dict[str, dict[str, list[str]]] = {}

    def bad(i: int, name: str, message: str) -> None:
        problems.setdefault(str(i), {}).setdefault(name, []).append(message)

    if not questions:
        return {"questions": ["At least one question."]}
    if len(questions) > MAX_QUESTIONS:
        return {"questions": [f"At most {MAX_QUESTIONS} questions."]}
    seen: set[str] = set()
    satisfaction = 0
    for i, q in enumerate(questions):
        key, kind = q.get("key"), q.get("kind")
        if not isinstance(key, str) or not KEY.match(key):
            bad(i, "key", "Lower-case letters, digits and _, starting with a letter.")
        elif key in seen:
            bad(i, "key", f"{key!r} is used twice.")
        else:
            seen.add(key)
        if kind not in QUESTION_KINDS:
            bad(i, "kind", f"One of {', '.join(QUESTION_KINDS)}.")
        label = q.get("label")
        if not isinstance(label, dict) or not all(
                isinstance(label.get(lang), str) and label[lang].strip() for lang in ("zh", "en")):
            bad(i, "label", "Both a Chinese (zh) and an English (en) label.")
        options = q.get("options")
        if kind in ("single", "multi"):
            values = [o.get("value") for o in options or [] if isinstance(o, dict)]
            if not options or len(values) != len(options) or not 2 <= len(values) <= MAX_OPTIONS:
                bad(i, "options", f"From 2 to {MAX_OPTIONS} options, each {{value, label}}.")
            elif len(set(values)) != len(values) or not all(
                    isinstance(v, str) and v for v in values):
                bad(i, "options", "Option values are distinct, non-empty texts.")
        elif options is not None:
            bad(i, "options", f"Only single and multi questions have options, not {kind}.")
        if kind == "scale":
            lo, hi = q.get("min"), q.get("max")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)) \
                    or lo >= hi or hi - lo > 100:
                bad(i, "max", "A scale needs whole-number min < max (at most 100 apart).")
        if q.get("satisfaction"):
            satisfaction += 1
            if satisfaction > 1:
                bad(i, "satisfaction", "At most one satisfaction question per template.")
            values = [o.get("value") for o in options or [] if isinstance(o, dict)]
            if kind != "single" or sorted(values) != sorted(SATISFACTION):
                bad(i, "satisfaction", "The satisfaction question is a single choice of "
                    f"exactly {', '.join(SATISFACTION)}.")
    return {"questions": problems} if problems else {}


def satisfaction_key(template: Questionnaire) -> str | None:
    return next((q["key"] for q in template.questions if q.get("satisfaction")), None)


def check_answers(template: Questionnaire, answers: dict[str, Any]) -> dict[str, list[str]]:
    """{key: [messages]} for every answer that is missing, unknown or of the wrong kind."""
    errors: dict[str, list[str]] = {}
    by_key = {q["key"]: q for q in template.questions}
    for key in sorted(set(answers) - set(by_key)):
        errors[key] = [f"Not a question of {template.code} v{template.version}."]
    for key, q in by_key.items():
        value = answers.get(key)
        if value is None or value == "" or value == []:
            if q.get("required"):
                errors[key] = ["Required."]
            continue
        problem = _wrong(q, value)
        if problem:
            errors[key] = [problem]
    return errors


def _wrong(q: dict[str, Any], value: Any) -> str | None:
    kind = q["kind"]
    values = [o["value"] for o in q.get("options") or []]
    if kind == "single":
        return None if isinstance(value, str) and value in values else \
            f"One of {', '.join(values)}."
    if kind == "multi":
        ok = isinstance(value, list) and all(isinstance(v, str) and v in values for v in value)
        if not ok:
            return f"A list of {', '.join(values)}."
        return None if len(set(value)) == len(value) else "Each option once."
    if kind == "scale":
        ok = isinstance(value, int) and not isinstance(value, bool) and \
            q["min"] <= value <= q["max"]
        return None if ok else f"A whole number from {q['min']} to {q['max']}."
    if kind == "yesno":
        return None if isinstance(value, bool) else "true or false."
    return text.checked(value, MAX_TEXT_ANSWER)


_YES_NO = {"zh": ("是", "否"), "en": ("Yes", "No")}


def answer_text(q: dict[str, Any], value: Any, lang: str = "zh") -> str | int | None:
    """An answer as a reader sees it: options by their label in `lang`, yes/no as words,
    a scale as its number (a number a spreadsheet can add up), text as given."""
    if value is None or value == "" or value == []:
        return None
    labels = {o["value"]: o["label"].get(lang) or o["value"] for o in q.get("options") or []}
    kind = q.get("kind")
    if kind == "single":
        return labels.get(value, str(value))
    if kind == "multi" and isinstance(value, list):
        return ("、" if lang == "zh" else ", ").join(labels.get(v, str(v)) for v in value)
    if kind == "yesno" and isinstance(value, bool):
        return _YES_NO[lang][0 if value else 1]
    if kind == "scale" and isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value)


def paper_form(user: User, code: str, version: int | None = None) -> tuple[bytes, str]:
    """(PDF bytes, file name) of the template as a paper form; for the roles that revisit
    or run revisits (the form has no answers, but it is the office's working paper)."""
    require_role(user, (*OFFICE_ROLES, *REVISIT_ROLES), "questionnaire.forbidden",
                 "Your role may not print questionnaires.")
    q = get(code, version)
    body = render_form(q.title.get("zh") or q.code, q.code, q.version, q.questions,
                       q.created_at)
    return body, f"{q.title.get('zh') or q.code}-v{q.version}.pdf"
