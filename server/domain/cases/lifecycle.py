"""A case's life: the one transition table, and the command that applies an action.

The API, the app's buttons (through GET /api/vocab and /api/cases/<id>/actions) and the
tests all read TRANSITIONS. An action names the states it leaves from, the state it
reaches (None: the status stays), the roles allowed and how the user's units must stand
to the case's:
- `lead`: the case's responsible unit is one of the user's units or below them;
- `above`: as `lead`, but from a unit higher up (supervision, 督办);
- `co`: the user's units co-handle the case (协办).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from server.domain.accounts import roles, scope
from server.domain.accounts.roles import FIELD_ROLES as FIELD
from server.domain.accounts.roles import OFFICE_ROLES as OFFICE
from server.domain.audit import audit, timeline
from server.domain.cases import deadline_rules, deadlines, hooks, webhooks
from server.domain.core import phonetime, text
from server.domain.core.errors import Conflict, Forbidden, Invalid, NotFound
from server.domain.core.uow import command
from server.domain.core.vocab import OPEN_STATUSES, VERDICTS
from server.extensions import db
from server.models import Case, CaseEvent, CaseUnit, Notification, Unit, User
from server.models.base import utcnow

MAX_EXTENSION_DAYS = 365


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # unit | users | text | texts | days | verdict
    required: bool = True


@dataclass(frozen=True)
class Action:
    name: str
    sources: tuple[str, ...]
    target: str | None
    roles: tuple[str, ...]
    relation: str
    params: tuple[Param, ...]
    event: str


TRANSITIONS: tuple[Action, ...] = (
    Action("dispatch", ("received",), "dispatched", OFFICE, "lead",
           (Param("unit_id", "unit"), Param("assignee_ids", "users", False)), "dispatched"),
    Action("start", ("dispatched",), "in_progress", FIELD, "lead",
           (Param("note", "text", False),), "started"),
    Action("submit", ("in_progress",), "submitted", FIELD, "lead",
           (Param("verdict", "verdict"), Param("result", "text")), "submitted"),
    Action("approve", ("submitted",), "closed", OFFICE, "lead",
           (Param("note", "text", False),), "approved"),
    Action("return", ("submitted",), "in_progress", OFFICE, "lead",
           (Param("reasons", "texts"),), "returned"),
    Action("reopen", ("closed",), "in_progress", OFFICE, "lead",
           (Param("reason", "text"),), "reopened"),
    Action("transfer", ("received", "dispatched", "in_progress"), "dispatched", OFFICE, "lead",
           (Param("unit_id", "unit"), Param("reason", "text")), "transferred"),
    Action("extend", OPEN_STATUSES, None, OFFICE, "lead",
           (Param("days", "days"), Param("reason", "text")), "extended"),
    Action("co_handle", ("received", "dispatched", "in_progress"), None, OFFICE, "lead",
           (Param("unit_id", "unit"), Param("part", "text")), "co_handling"),
    Action("supervise", OPEN_STATUSES, None, OFFICE, "above",
           (Param("note", "text"),), "supervised"),
)
ACTIONS = {a.name: a for a in TRANSITIONS}
# People sent to one case at most (a dispatch names a few; a list of thousands is no
# request the app makes, and would be one query parameter each).
MAX_ASSIGNEES = 50
# The events that close a case or take it out of "closed" (ledgers.asof reads them for
# past moments); each that changes whether it is closed sets `closure_changed_at`, so a
# case without one since a moment stood then as it stands now.
CLOSING_EVENTS = ("approved",)
UNCLOSING_EVENTS = ("reopened", "revisit_dissatisfied")
CLOSURE_EVENTS = CLOSING_EVENTS + UNCLOSING_EVENTS


def describe() -> list[dict[str, Any]]:
    """The table as data, for the app and the API document."""
    return [{"action": a.name, "from": list(a.sources), "to": a.target, "roles": list(a.roles),
             "relation": a.relation, "event": a.event,
             "params": [{"name": p.name, "kind": p.kind, "required": p.required}
                        for p in a.params]} for a in TRANSITIONS]


def relations(user: User, case: Case) -> set[str]:
    units = scope.visible_unit_ids(user)
    found = set()
    if case.unit_id in units:
        found.add("lead")
        if case.unit_id not in {u.id for u in user.units}:
            found.add("above")
    if any(cu.unit_id in units for cu in case.co_units):
        found.add("co")
    return found


def leads(user: User, case: Case) -> bool:
    """The case is the user's unit's (or below it), not one it only co-handles (协办): a
    co-handling unit sees the case and records its part; the lead unit edits it and may
    see its complainant."""
    return "lead" in relations(user, case)


def permitted(user: User, case: Case, action: Action) -> bool:
    """Role and units allow it, whatever the state."""
    return user.role in action.roles and action.relation in relations(user, case)


def allowed(user: User, case: Case) -> list[Action]:
    """What this user may do to this case now: approve is left out for someone the
    approval gate would refuse for who they are (see `withheld`)."""
    found = [a for a in TRANSITIONS if case.status in a.sources and permitted(user, case, a)]
    if any(a.name == "approve" for a in found) and hooks.approval_refusal(user, case):
        found = [a for a in found if a.name != "approve"]
    return found


def withheld(user: User, case: Case) -> list[dict[str, Any]]:
    """The actions the table allows this user now but the approval rule refuses, each with
    the problem's code and words (zh/en), so the app can say why rather than go quiet."""
    if case.status not in ACTIONS["approve"].sources or not permitted(
            user, case, ACTIONS["approve"]):
        return []
    refusal = hooks.approval_refusal(user, case)
    if refusal is None:
        return []
    return [{"action": "approve", "code": refusal.code, "detail": refusal.detail,
             "message": refusal.extra.get("message")}]


# ---- the command -----------------------------------------------------------------------
@command
def act(user: User, case_id: str, action_name: str, version: int, params: dict[str, Any],
        client_id: str | None = None, phone: dict[str, Any] | None = None) -> Case:
    """Apply one action: checks role, version, state and parameters, then the status
    change, its timeline event, its audit entry and the new deadline land together.
    `phone`: device_time, sent_at and contact for an action the phone queued (phonetime):
    when it was done, beside when it was received, and whether that was on time."""
    try:
        # Approving writes the seal's manifest to the store under this lock: a row's on
        # PostgreSQL, but on SQLite it would be every writer's (see get_case).
        case = scope.get_case(user, case_id, for_update=True,
                              row_lock_only=action_name == "approve")
    except NotFound:
        raise _transferred_away(user, case_id) from None
    if client_id:
        earlier = db.session.scalar(sa.select(CaseEvent).filter_by(client_id=client_id))
        if earlier is not None:
            if earlier.case_id != case.id or earlier.data.get("action") != action_name:
                raise Invalid("idempotency.conflict",
                              "This client_id was already used for a different request.")
            return case  # a retry of an action already applied
    action = ACTIONS.get(action_name)
    if action is None:
        raise Invalid("case.unknown_action", f"Unknown action {action_name!r}.",
                      errors={"action": [f"One of {', '.join(ACTIONS)}."]})
    if not permitted(user, case, action):
        raise Forbidden("case.action_forbidden",
                        f"Your role or unit may not {action.name} this case.",
                        extra={"allowed_actions": [a.name for a in allowed(user, case)]})
    if case.version != version:
        raise version_conflict(user, case, version)
    if case.status not in action.sources:
        raise Conflict("case.action_not_allowed",
                       f"A case that is {case.status} cannot be {action.event}.",
                       extra={"case_status": case.status,
                              "allowed_actions": [a.name for a in allowed(user, case)]})
    clean = _check_params(user, case, action, params)
    judged = timeline.head_seq(case.id) if action.name == "approve" else None
    if action.name == "approve":
        hooks.approval_gate(user, case)  # closure's, registered with the hook
    now = utcnow()
    # The seal's manifest goes to the store before this command writes anything, so a
    # hung store holds only this case's row lock, never the audit log's lock that every
    # audited write waits on.
    record_seal = hooks.approval_seal(case, user, now=now, note=clean.get("note")) \
        if action.name == "approve" else None
    if action.name == "approve" and timeline.head_seq(case.id, lock=True) != judged:
        # On SQLite the row lock above was none (see get_case): a photo, visit or revisit
        # that landed meanwhile was not judged by the gate nor sealed; on PostgreSQL the
        # row lock kept them out, and this never differs.
        raise Conflict("case.changed_while_approving",
                       "Something was added to this case while it was being approved; "
                       "look at it again and approve.")
    # The deadline the action was done under (before it moves); the field's own actions
    # (start, submit) are the handling that is on time or late, and the approval is the
    # closure that is (the on-time rate reads it from the event, for any past date).
    due = case.due_at if action.roles == FIELD or action.name == "approve" else None
    data = {"action": action.name, **_apply(user, case, action, clean, now),
            **_done_when(phone or {}, now, due)}
    if action.name == "approve":  # today's copy of the event's verdict (ledgers.stats)
        case.closed_on_time = data.get("on_time")
    _land(case, action, data, actor_id=user.id, now=now, client_id=client_id)
    if record_seal is not None:
        record_seal()
    if action.name == "supervise":
        _notify_supervision(case, user, clean["note"], now)
    return case


def _land(case: Case, action: Action, data: dict[str, Any], *, actor_id: str | None,
          now: datetime, client_id: str | None = None) -> CaseEvent:
    """The action lands on the case (for `act` and `reopen_for` alike): its status, its
    clock, one versioned UPDATE, then its timeline event and audit entry."""
    if action.target:
        case.status = action.target
    if action.event in CLOSURE_EVENTS:
        case.closure_changed_at = now
    case.updated_at = now
    if action.event in deadlines.CLOCK_EVENTS:
        deadline_rules.refresh(case, now, deadlines.ClockEvent(action.event, now, data))
    try:
        db.session.flush()  # one versioned UPDATE for the whole action
    except StaleDataError as exc:
        raise Conflict("case.version_conflict",
                       "Someone changed this case at the same time; reload and retry.") from exc
    event = timeline.append(case, action.event, actor_id=actor_id, at=now,
                            client_id=client_id, data=data)
    audit.append(f"case.{action.event}", "case", case.id, actor_id=actor_id,
                 data={"action": action.name, "status": case.status, **data})
    return event


def _present_changes(user: User, events: list[CaseEvent]) -> list[dict[str, Any]]:
    """The events as `user` may read them: the same need-to-know rule as the timeline
    route (a dissatisfied revisit's answers and notes are not for the inspectors)."""
    names = dict(db.session.execute(sa.select(User.id, User.display_name).where(
        User.id.in_({e.actor_id for e in events if e.actor_id}))).all()) if events else {}
    return [{"seq": e.seq, "at": e.at.isoformat(), "kind": e.kind, "actor_id": e.actor_id,
             "actor": {"id": e.actor_id, "name": names.get(e.actor_id, "")}
             if e.actor_id else None, "data": roles.hide_answers(user, e.data)} for e in events]


def _transferred_away(user: User, case_id: str) -> Exception:
    """A case the user's unit handed on (转办) is no longer theirs: say so, with the
    transfer, rather than a bare 404 (a phone's queued action must learn what happened).
    Anyone else gets the same 404 as for a case that does not exist."""
    units = scope.visible_unit_ids(user)
    moves = [e for e in timeline.events(case_id, kinds=("transferred",))
             if (e.data.get("from_unit") or {}).get("id") in units]
    if not moves:
        return NotFound("case.not_found", "No such case.")
    last = moves[-1]
    return Conflict("case.transferred_away",
                    f"This case was transferred to {last.data.get('unit')}; it is no longer "
                    "your unit's to act on.",
                    extra={"case_status": "transferred", "unit": {
                        "id": last.data.get("unit_id"), "name": last.data.get("unit")},
                           "changes": _present_changes(user, [last])},
                    params={"unit": last.data.get("unit")})


def version_conflict(user: User, case: Case, seen: int) -> Conflict:
    """409 with what changed since the version the client saw, as `user` may read it."""
    changes = _present_changes(user, timeline.events(case.id, after_version=seen))
    return Conflict("case.version_conflict",
                    "Someone changed this case since you opened it; see what changed.",
                    extra={"current_version": case.version, "case_status": case.status,
                           "unit": {"id": case.unit.id, "name": case.unit.name},
                           "changes": changes})


def _text(params: dict[str, Any], name: str, errors: dict[str, list[str]],
          required: bool) -> str | None:
    value = params.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.setdefault(name, []).append("Required.")
        return None
    wrong = text.checked(value, 4000)
    if wrong:
        errors.setdefault(name, []).append(wrong)
        return None
    return value.strip()


def _check_params(user: User, case: Case, action: Action,
                  params: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    known = {p.name for p in action.params}
    for extra in sorted(set(params) - known):
        errors.setdefault(extra, []).append(f"Not a parameter of {action.name}.")
    for p in action.params:
        if p.kind == "text":
            clean[p.name] = _text(params, p.name, errors, p.required)
        elif p.kind == "texts":
            value = params.get(p.name)
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, str) and v.strip() for v in value):
                errors.setdefault(p.name, []).append("One or more non-empty texts.")
            elif wrong := next(filter(None, (text.checked(v, 1000) for v in value)), None):
                errors.setdefault(p.name, []).append(wrong)
            else:
                clean[p.name] = [v.strip() for v in value]
        elif p.kind == "days":
            value = params.get(p.name)
            if not isinstance(value, int) or isinstance(value, bool) or not (
                    1 <= value <= MAX_EXTENSION_DAYS):
                errors.setdefault(p.name, []).append(
                    f"A whole number of days from 1 to {MAX_EXTENSION_DAYS}.")
            else:
                clean[p.name] = value
        elif p.kind == "verdict":
            value = params.get(p.name)
            if value not in VERDICTS:
                errors.setdefault(p.name, []).append(f"One of {', '.join(VERDICTS)}.")
            else:
                clean[p.name] = value
        elif p.kind == "unit":
            value = params.get(p.name)
            unit = db.session.get(Unit, value) if isinstance(value, str) else None
            if unit is None:
                errors.setdefault(p.name, []).append("No such unit.")
            else:
                clean[p.name] = unit
        elif p.kind == "users":
            value = params.get(p.name) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.setdefault(p.name, []).append("A list of user ids.")
            elif len(set(value)) > MAX_ASSIGNEES:
                errors.setdefault(p.name, []).append(
                    f"At most {MAX_ASSIGNEES} people are sent to one case.")
            else:
                clean[p.name] = list(dict.fromkeys(value))  # each once, in the given order
    if not errors:
        _check_meaning(user, case, action, clean, errors)
    if errors:
        raise Invalid("case.bad_params", f"The {action.name} action's parameters are not "
                      "right.", errors=errors)
    return clean


def _check_meaning(user: User, case: Case, action: Action, clean: dict[str, Any],
                   errors: dict[str, list[str]]) -> None:
    unit: Unit | None = clean.get("unit_id")
    if action.name == "dispatch" and unit is not None:
        if unit.id not in scope.visible_unit_ids(user):
            errors["unit_id"] = ["Not one of your units; transfer the case instead."]
        else:
            ids = clean.get("assignee_ids") or []
            people = db.session.scalars(sa.select(User).where(User.id.in_(ids))).all() \
                if ids else []
            covering = scope.unit_and_above(unit.id)
            fits = {u.id for u in people if u.active and u.role in FIELD
                    and any(x.id in covering for x in u.units)}
            wrong = [i for i in ids if i not in fits]
            if wrong:
                named = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5
                                                else "")
                errors["assignee_ids"] = [f"Not field staff of {unit.name}: {named}"]
            clean["assignees"] = [u for u in people if u.id in fits]
    if action.name == "transfer" and unit is not None and unit.id == case.unit_id:
        errors["unit_id"] = ["The case is already with this unit."]
    if action.name == "co_handle" and unit is not None and (
            unit.id == case.unit_id or any(cu.unit_id == unit.id for cu in case.co_units)):
        errors["unit_id"] = ["This unit already has a part in the case."]
    if action.name == "extend" and case.deadline_rule is not None:
        body = deadline_rules.rule_body(case.deadline_rule, case.deadline_rule_version)
        limit = body.get("max_extension")
        so_far = deadlines.extended_so_far(deadline_rules.clock_events(case))
        if limit is not None and so_far + clean["days"] > limit:
            errors["days"] = [f"Rule {body['code']} allows at most {limit} days of "
                              f"extension; {so_far} already granted."]


def release_leader(case: Case, unit_id: str, data: dict[str, Any]) -> None:
    """A case moving to a unit its leader is not over (a street's leader, the case sent to
    another street) leaves their hands: held by someone who cannot open it, and named to
    the new street, otherwise. The event that moves it says so (`leader_released`)."""
    if case.leader_id is None:
        return
    leader = db.session.get(User, case.leader_id)
    if roles.may_hold(leader, unit_id):
        return
    data["leader_released"] = {"id": case.leader_id,
                               "name": leader.display_name if leader else ""}
    case.leader_id = None


def _apply(user: User, case: Case, action: Action, clean: dict[str, Any],
           now: datetime) -> dict[str, Any]:
    """Change the case for the action; answer the event's data (who/what/why)."""
    data: dict[str, Any] = {"from": case.status}
    unit: Unit | None = clean.get("unit_id")
    moved_from = case.unit_id
    if action.name == "dispatch":
        release_leader(case, unit.id, data)
        case.unit_id = unit.id
        case.assignees = clean.get("assignees") or []
        data.update(unit_id=unit.id, unit=unit.name,
                    assignees=[{"id": u.id, "name": u.display_name} for u in case.assignees])
    elif action.name == "transfer":
        data.update(from_unit={"id": case.unit_id, "name": case.unit.name},
                    unit_id=unit.id, unit=unit.name, reason=clean["reason"])
        release_leader(case, unit.id, data)
        case.unit_id = unit.id
        case.assignees = []
    elif action.name == "submit":
        case.verdict, case.result = clean["verdict"], clean["result"]
        data.update(verdict=case.verdict, result=case.result)
    elif action.name == "approve":
        case.closed_at = now
    elif action.name == "reopen":
        case.closed_at = case.closed_on_time = None
    elif action.name == "co_handle":
        case.co_units.append(CaseUnit(unit_id=unit.id, role="co", part=clean["part"],
                                      created_at=now))
        data.update(unit_id=unit.id, unit=unit.name, part=clean["part"])
    if case.unit_id != moved_from:  # dispatched or transferred to another unit
        hooks.case_moved(case, moved_from)
    for key in ("note", "reason", "reasons", "days"):
        if clean.get(key) is not None:
            data[key] = clean[key]
    if unit is not None:
        db.session.expire(case, ["unit"])  # reload the relationship for the new unit
    return data


def _done_when(phone: dict[str, Any], now: datetime, due: datetime | None) -> dict[str, Any]:
    """The event's phone time and, under a deadline, whether the action was done on time:
    judged by when it was done (a submit at 23:50 synced at 08:00 is not late)."""
    judged = phonetime.judge(phone.get("device_time"), now, contact=phone.get("contact"),
                             sent_at=phone.get("sent_at"))
    data = judged.as_data() if judged else {}
    if due is not None:
        data["on_time"] = (judged.done_at if judged else now) < due
    return data


def _notify_supervision(case: Case, user: User, note: str, now: datetime) -> None:
    db.session.add(Notification(
        case_id=case.id, unit_id=case.unit_id, kind="supervision", milestone="",
        dedupe_key=f"{case.id}:supervision:{now.isoformat()}:{user.id}", due_at=now,
        created_at=now, data={"note": note, "by": user.display_name or user.username}))


# ---- what a revisit does to the case -----------------------------------------------------
# Handled cases a dissatisfied revisit sends back to the reviewers: a closed one is
# unclosed (back to submitted), a submitted one stays there with a new review deadline.
REVIEWABLE = ("submitted", "closed")


def dissatisfied_revisit(case: Case, *, actor_id: str, now: datetime,
                         data: dict[str, Any]) -> None:
    """A helper of the revisit commands (no commit): the timeline event with the answers
    that explain why, its audit entry, and for a handled case the way back to review
    under the deadline rule's review period. A case still being handled only records it."""
    review = case.status in REVIEWABLE
    data = {**data, "from": case.status, "review": review}
    if review:
        case.status, case.closed_at, case.closed_on_time = "submitted", None, None
        case.updated_at = case.closure_changed_at = now
        deadline_rules.refresh(case, now, deadlines.ClockEvent("revisit_dissatisfied", now,
                                                               data))
        try:
            db.session.flush()
        except StaleDataError as exc:
            raise Conflict("case.version_conflict",
                           "Someone changed this case at the same time; retry.") from exc
    event = timeline.append(case, "revisit_dissatisfied", actor_id=actor_id, at=now, data=data)
    audit.append("case.revisit_dissatisfied", "case", case.id, actor_id=actor_id,
                 data={"status": case.status, "revisit_id": data.get("revisit_id"),
                       "review": review})
    _notify_dissatisfied(case, data.get("revisit_id"), event.seq, now)


def _notify_dissatisfied(case: Case, revisit_id: str | None, seq: int,
                         now: datetime) -> None:
    """The handling unit's bell (its reviewers above it see it too) and every webhook whose
    unit sees the case. Only that a revisit was dissatisfied: the answers stay with those
    who may read them."""
    note = Notification(
        case_id=case.id, unit_id=case.unit_id, kind="revisit_dissatisfied", milestone="",
        # Keyed by the event too: a door survey's overall answer may turn dissatisfied,
        # back, and dissatisfied again, and each turn rings (the key must not collide).
        dedupe_key=f"{case.id}:revisit_dissatisfied:{revisit_id or ''}:{seq}", due_at=now,
        created_at=now, data={"revisit_id": revisit_id})
    db.session.add(note)
    db.session.flush()
    webhooks.enqueue([(note.id, case.id)], now, webhooks.active_hooks())


# ---- a reopen a higher context's rule decides --------------------------------------------
def reopen_for(case: Case, *, actor_id: str, now: datetime, data: dict[str, Any],
               notify: str | None = None) -> None:
    """A helper of a higher context's command (no commit): the reopen action's semantics
    (in progress again, closed_at cleared, the clock restarted, one versioned update, its
    `reopened` event and audit entry) when a rule, not the user's role, decides it (a
    look-back's rebound, found by a cross-check unit). `data` says why (reason...);
    `notify`, a notification kind, rings the handling unit as a dissatisfied revisit does
    (the unit did not ask for this reopen). The caller holds the case's row lock and has
    checked who may ask."""
    action = ACTIONS["reopen"]
    if case.status not in action.sources:
        raise Conflict("case.action_not_allowed",
                       f"A case that is {case.status} cannot be reopened.",
                       extra={"case_status": case.status})
    data = {"action": action.name, "from": case.status, **data}
    case.closed_at = case.closed_on_time = None  # as the reopen action (_apply) clears them
    event = _land(case, action, data, actor_id=actor_id, now=now)
    if notify:
        _notify_reopened(case, notify, event.seq, now,
                         {k: data[k] for k in ("campaign_id", "task_id") if k in data})


def _notify_reopened(case: Case, kind: str, seq: int, now: datetime,
                     data: dict[str, Any]) -> None:
    """As a dissatisfied revisit rings: the handling unit's bell (its reviewers above it
    see it too) and every webhook whose unit sees the case; only that it was reopened, and
    by what (no findings, no complainant)."""
    note = Notification(case_id=case.id, unit_id=case.unit_id, kind=kind, milestone="",
                        dedupe_key=f"{case.id}:{kind}:{seq}", due_at=now, created_at=now,
                        data=data)
    db.session.add(note)
    db.session.flush()
    webhooks.enqueue([(note.id, case.id)], now, webhooks.active_hooks())


# ---- the rule other commands share ------------------------------------------------------
def require_open(case: Case, what: str) -> None:
    """Visits and evidence go to open cases only; a closed one must be reopened first."""
    if not scope.case_is_open(case):
        raise Conflict("case.closed", f"This case is closed; {what} cannot be added "
                       "unless it is reopened.", extra={"case_status": case.status})
