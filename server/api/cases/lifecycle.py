"""A case's life over HTTP: transitions, actions, timeline; the board, the map feed and
notifications; the vocabularies the app reads instead of keeping copies."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, jsonify

from server.api.blueprint import Blueprint
from server.api.cases.schemas import (
    ActionsSchema,
    BoardQuerySchema,
    BoardSchema,
    CaseSchema,
    MapQuerySchema,
    NotificationListSchema,
    NotificationsSeenSchema,
    NotificationsUnreadSchema,
    PeopleQuerySchema,
    PersonListSchema,
    TimelineSchema,
    TransitionSchema,
    UnitListSchema,
    VocabSchema,
)
from server.api.presenters import absolute, leader_name, present_case
from server.api.security import current_user, last_contact, load_user
from server.domain.accounts import roles, scope
from server.domain.accounts.roles import ADMIN_ROLES, FIELD_ROLES, OFFICE_ROLES, REVISIT_ROLES
from server.domain.audit import timeline
from server.domain.cases import (
    board,
    deadline_rules,
    deadlines,
    lifecycle,
    maps,
    notifications,
    workdays,
)
from server.domain.core import labels, vocab
from server.domain.core.errors import Forbidden
from server.domain.core.runtime import setting
from server.domain.fieldwork import evidence
from server.domain.revisits import attempts
from server.extensions import db
from server.models import Case, Unit, User
from server.models.base import utcnow

blp = Blueprint("lifecycle", __name__, url_prefix="/api",
                description="A case's life: transitions, timeline, the colour board, the "
                            "map, reminders, and the vocabularies.")
blp.before_request(load_user)


@blp.route("/cases/<case_id>/transitions", methods=["POST"])
@blp.arguments(TransitionSchema)
@blp.response(200, CaseSchema)
def transition(data: dict, case_id: str):  # type: ignore[no-untyped-def]
    """Act on a case (dispatch, start, submit, approve, return, reopen, transfer, extend,
    co_handle, supervise) with the version you read.

    A stale version answers 409 `case.version_conflict` with the events since; an action
    the state does not allow 409 `case.action_not_allowed` naming the allowed ones; a role
    or unit that may not 403 `case.action_forbidden`; bad parameters 422."""
    params = {k: v for k, v in data.items()
              if k not in ("action", "version", "client_id", "device_time", "sent_at")}
    user = current_user()
    phone = {"device_time": data.get("device_time"), "sent_at": data.get("sent_at"),
             "contact": last_contact()}
    case = lifecycle.act(user, case_id, data["action"], data["version"], params,
                         client_id=data.get("client_id"), phone=phone)
    return present_case(case, actions=[a.name for a in lifecycle.allowed(user, case)],
                        withheld=lifecycle.withheld(user, case), leads=lifecycle.leads(user, case))


@blp.route("/cases/<case_id>/actions")
@blp.response(200, ActionsSchema)
def actions(case_id: str):  # type: ignore[no-untyped-def]
    """What the current user may do to this case now, with each action's parameters."""
    user = current_user()
    case = scope.get_case(user, case_id)
    return {"version": case.version, "status": case.status, "actions": [
        {"action": a.name, "params": [{"name": p.name, "kind": p.kind,
                                       "required": p.required} for p in a.params]}
        for a in lifecycle.allowed(user, case)], "withheld": lifecycle.withheld(user, case)}


@blp.route("/cases/<case_id>/timeline")
@blp.response(200, TimelineSchema)
def case_timeline(case_id: str):  # type: ignore[no-untyped-def]
    """Every event of the case, oldest first: who, when, what, why, and its chain hash."""
    user = current_user()
    case = scope.get_case(user, case_id)
    events = timeline.events(case.id)
    names = dict(db.session.execute(sa.select(User.id, User.display_name).where(
        User.id.in_({e.actor_id for e in events if e.actor_id}))).all())
    # Residents' answers only for those who may read them (the hash still covers them).
    return {"items": [{"seq": e.seq, "at": e.at, "kind": e.kind,
                       "data": roles.hide_answers(user, e.data),
                       "version": e.version, "hash": e.hash,
                       "actor": {"id": e.actor_id, "name": names.get(e.actor_id, "")}
                       if e.actor_id else None} for e in events]}


def _lite(case: Case, now: Any) -> dict[str, Any]:
    """A case on the map, as the board's cards show it."""
    told = deadline_rules.deadline_of(case, now)
    overdue = bool(told and told.overdue)
    colour = "overdue" if overdue else (told.colour if told else "none")
    return {"id": case.id, "subject": case.subject, "address": case.address,
            "unit": {"id": case.unit.id, "name": case.unit.name}, "status": case.status,
            "key": case.key, "leader": leader_name(case), "leader_id": case.leader_id,
            "due_at": case.due_at, "colour": colour, "overdue": overdue}


@blp.route("/board")
@blp.arguments(BoardQuerySchema, location="query")
@blp.response(200, BoardSchema)
def colour_board(args: dict):  # type: ignore[no-untyped-def]
    """Open cases counted and listed by colour and unit; overdue ones stand apart."""
    user, now = current_user(), utcnow()
    found = board.board(user, now, **args)
    missing = workdays.missing_year(now) if user.role in OFFICE_ROLES else None
    found["warnings"] = [workdays.warning(now, missing)] if missing else []
    found["calendar_missing_year"] = missing
    return found


@blp.route("/cases.geojson")
@blp.arguments(MapQuerySchema, location="query")
@blp.response(200, description="A GeoJSON FeatureCollection (WGS-84, [lon, lat]) of the "
              "matching cases with a location and their located photos.")
def cases_geojson(args: dict) -> Response:
    user, now = current_user(), utcnow()
    located, photos = board.map_features(user, now, **args)
    colours = {}
    features = []
    for case in located:
        lite = _lite(case, now)
        colours[case.id] = (lite["colour"], lite["overdue"])
        features.append({"type": "Feature",
                         "geometry": {"type": "Point", "coordinates": [case.lon, case.lat]},
                         "properties": {"kind": "case", **{k: lite[k] for k in (
                             "id", "subject", "address", "status", "colour", "overdue",
                             "key", "leader")}, "due_at": case.due_at.isoformat()
                             if case.due_at else None}})
    for ev, case_id in photos:
        links = evidence.thumbnail_links(ev, user, ("small",))
        colour, overdue = colours[case_id]
        features.append({"type": "Feature",
                         "geometry": {"type": "Point", "coordinates": [ev.geo_lon, ev.geo_lat]},
                         "properties": {"kind": "evidence", "id": ev.id, "case_id": case_id,
                                        "colour": colour, "overdue": overdue,
                                        "captured_at": ev.captured_at.isoformat(),
                                        "place": ev.place, "caption": ev.caption,
                                        "thumb_url": absolute(links["small"])
                                        if "small" in links else None}})
    response = jsonify({"type": "FeatureCollection", "features": features})
    response.mimetype = "application/geo+json"
    return response


@blp.route("/notifications")
@blp.response(200, NotificationListSchema)
def notification_list():  # type: ignore[no-untyped-def]
    """Reminders, escalations and supervision prods for the user's units (and below),
    newest first; `unread` counts those newer than the user's mark (up to 100)."""
    user = current_user()
    return {"items": [{"id": n.id, "case_id": c.id, "subject": c.subject, "kind": n.kind,
                       "milestone": n.milestone, "at": n.created_at, "due_at": n.due_at,
                       "unit": {"id": u.id, "name": u.name}, "key": c.key,
                       "leader": leader_name(c), "data": n.data,
                       "unread": notifications.is_unread(user, n)}
                      for n, c, u in notifications.for_user(user)],
            "unread": notifications.unread(user), "seen_at": user.notifications_seen_at}


@blp.route("/notifications/seen", methods=["POST"])
@blp.arguments(NotificationsSeenSchema)
@blp.response(200, NotificationsUnreadSchema)
def notifications_seen(data: dict):  # type: ignore[no-untyped-def]
    """Mark as seen every notification up to `up_to` (the newest one the user was shown).
    The mark only moves forward; a later notification stays unread."""
    user = current_user()
    notifications.mark_seen(user, data["up_to"])
    return {"unread": notifications.unread(user), "seen_at": user.notifications_seen_at}


@blp.route("/vocab")
@blp.response(200, VocabSchema)
def vocabularies():  # type: ignore[no-untyped-def]
    """The app's lists: channels, categories, statuses, verdicts, partners, the transition
    table and the basemaps. The app keeps no copies of its own."""
    return {"channels": list(vocab.CHANNELS), "categories": list(vocab.CATEGORIES),
            "statuses": list(vocab.CASE_STATUSES), "open_statuses": list(vocab.OPEN_STATUSES),
            "colours": list(board.COLOURS), "verdicts": list(vocab.VERDICTS),
            "visit_kinds": list(vocab.RECORDED_VISIT_KINDS), "partners": list(vocab.PARTNERS),
            "zone_classes": list(vocab.ZONE_CLASSES),
            "countings": list(deadlines.COUNTINGS),
            "revisit_methods": list(vocab.REVISIT_METHODS),
            "feedback_methods": list(vocab.FEEDBACK_METHODS),
            "respondent_kinds": list(vocab.RESPONDENT_KINDS),
            "satisfaction": list(vocab.SATISFACTION),
            "attempt_outcomes": list(vocab.ATTEMPT_OUTCOMES),
            "attempt_rules": {"min_attempts": attempts.MIN_ATTEMPTS,
                              "gap_min": setting("REVISIT_ATTEMPT_GAP_MIN"),
                              "timezone": setting("LOCAL_TIMEZONE"),
                              "final": list(attempts.FINAL_OUTCOMES)},
            "question_kinds": list(vocab.QUESTION_KINDS),
            "sample_strata": list(vocab.SAMPLE_STRATA),
            "audio_types": list(vocab.AUDIO_TYPES),
            "labels": labels.table(),
            "role_sets": {"office": list(OFFICE_ROLES), "field": list(FIELD_ROLES),
                          "admin": list(ADMIN_ROLES), "revisit": list(REVISIT_ROLES),
                          "leader": list(roles.LEADER_ROLES),
                          "instruction": list(roles.INSTRUCTION_ROLES),
                          "feedback": list(roles.FEEDBACK_ROLES)},
            "actions": lifecycle.describe(), "map": maps.tile_sources()}


@blp.route("/units")
@blp.response(200, UnitListSchema)
def units():  # type: ignore[no-untyped-def]
    """The units the user sees (theirs and those below)."""
    ids = scope.visible_unit_ids(current_user())
    return {"items": db.session.scalars(sa.select(Unit).where(Unit.id.in_(ids))
                                        .order_by(Unit.name)).all()}


@blp.route("/units/all")
@blp.response(200, UnitListSchema)
def all_units():  # type: ignore[no-untyped-def]
    """Every unit: a transfer (转办) or co-handling may go outside one's own tree."""
    if current_user().role not in OFFICE_ROLES:
        raise Forbidden("unit.forbidden", "Only office staff route cases to other units.")
    return {"items": db.session.scalars(sa.select(Unit).order_by(Unit.name)).all()}


@blp.route("/users")
@blp.arguments(PeopleQuerySchema, location="query")
@blp.response(200, PersonListSchema)
def people(args: dict):  # type: ignore[no-untyped-def]
    """Active people of the user's units, for dispatching (office staff)."""
    user = current_user()
    if user.role not in (*OFFICE_ROLES, *ADMIN_ROLES):
        raise Forbidden("user.forbidden", "Only office staff list people.")
    visible = scope.visible_unit_ids(user)
    wanted = scope.subtree([args["unit"]]) & visible if args.get("unit") else visible
    query = sa.select(User).where(User.active, User.units.any(Unit.id.in_(wanted)))
    if args.get("role"):
        query = query.where(User.role == args["role"])
    return {"items": [{"id": u.id, "username": u.username, "display_name": u.display_name,
                       "role": u.role, "unit_ids": [x.id for x in u.units]}
                      for u in db.session.scalars(query.order_by(User.username))]}
