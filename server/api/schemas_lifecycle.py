"""Schemas of the case's life: transitions, timeline, board, map, notifications, and the
admin's rules, calendar and webhooks."""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, pre_load, validate

from server.api.schemas import Aware, CaseSchema, Text, UnitRefSchema, UUIDStr, _text
from server.domain.core import vocab


class TransitionSchema(Schema):
    """The action's own parameters (GET /api/vocab: actions[].params) travel beside these."""

    class Meta:
        unknown = INCLUDE

    action = Text(required=True)
    version = fields.Integer(required=True, metadata={"description": "The version you read."})
    client_id = UUIDStr(load_default=None, metadata={
        "description": "A phone's UUID for the action: a retry is applied once."})


class ParamSchema(Schema):
    name = Text()
    kind = Text(metadata={"description": "unit | users | text | texts | days | verdict"})
    required = fields.Boolean()


class ActionSchema(Schema):
    action = Text()
    params = fields.List(fields.Nested(ParamSchema))


class ActionsSchema(Schema):
    version = fields.Integer()
    status = Text()
    actions = fields.List(fields.Nested(ActionSchema))


class ActorSchema(Schema):
    id = Text()
    name = Text()


class EventSchema(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    kind = Text()
    actor = fields.Nested(ActorSchema, allow_none=True)
    data = fields.Dict()
    version = fields.Integer()
    hash = Text()


class TimelineSchema(Schema):
    items = fields.List(fields.Nested(EventSchema))


class BoardQuerySchema(Schema):
    unit = Text()
    channel = Text(validate=validate.OneOf(vocab.CHANNELS))
    category = Text(validate=validate.OneOf(vocab.CATEGORIES))
    key = fields.Boolean()
    received_from = Aware(data_key="from", metadata={"description": "Received at or after."})
    received_to = Aware(data_key="to", metadata={"description": "Received before."})


class MapQuerySchema(BoardQuerySchema):
    is_open = fields.Boolean(data_key="open", load_default=True)
    status = Text(validate=validate.OneOf(vocab.CASE_STATUSES))
    q = _text(100)


class CountsSchema(Schema):
    green = fields.Integer()
    blue = fields.Integer()
    yellow = fields.Integer()
    red = fields.Integer()
    overdue = fields.Integer()
    none = fields.Integer(metadata={"description": "Open cases no deadline rule covers."})
    all = fields.Integer()


class BoardCaseSchema(Schema):
    id = Text()
    subject = Text()
    address = Text()
    unit = fields.Nested(UnitRefSchema)
    status = Text()
    key = fields.Boolean()
    leader = Text(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    colour = Text()
    overdue = fields.Boolean()


class BoardCards(fields.List):
    """Documented as a list of BoardCaseSchema; dumped as the plain dicts the board query
    already shapes that way (up to 250 cards: field-by-field dumping would cost the board
    more than its SQL)."""

    def _serialize(self, value, attr, obj, **kwargs):  # type: ignore[no-untyped-def]
        return [{**card, "due_at": card["due_at"].isoformat() if card["due_at"] else None}
                for card in value or []]


class BoardUnitSchema(Schema):
    unit = fields.Nested(UnitRefSchema)
    counts = fields.Nested(CountsSchema)


class BoardSchema(Schema):
    at = fields.DateTime()
    colours = fields.List(Text())
    totals = fields.Nested(CountsSchema)
    units = fields.List(fields.Nested(BoardUnitSchema))
    cases = fields.Dict(keys=Text(), values=BoardCards(fields.Nested(BoardCaseSchema)),
                        metadata={"description": "green, blue, yellow, red, overdue: at "
                                  "most 50 each, most urgent first."})
    warnings = fields.List(Text())
    calendar_missing_year = fields.Integer(allow_none=True, metadata={
        "description": "Office staff: the year deadlines will soon need that is not loaded"})


class UnitSchema(Schema):
    id = Text()
    name = Text()
    parent_id = Text(allow_none=True)


class UnitListSchema(Schema):
    items = fields.List(fields.Nested(UnitSchema))


class PersonSchema(Schema):
    id = Text()
    username = Text()
    display_name = Text()
    role = Text()
    unit_ids = fields.List(Text())


class PersonListSchema(Schema):
    items = fields.List(fields.Nested(PersonSchema))


class PeopleQuerySchema(Schema):
    unit = Text()
    role = Text(validate=validate.OneOf(("inspector", "revisit", "reviewer", "admin")))


class NotificationSchema(Schema):
    id = Text()
    case_id = Text()
    subject = Text()
    kind = Text(metadata={"description": "milestone | overdue | supervision"})
    milestone = Text()
    at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    unit = fields.Nested(UnitRefSchema)
    key = fields.Boolean()
    leader = Text(allow_none=True)
    data = fields.Dict()
    unread = fields.Boolean()


class NotificationsUnreadSchema(Schema):
    unread = fields.Integer(metadata={"description": "Newer than the user's mark, up to 100"})
    seen_at = fields.DateTime(allow_none=True)


class NotificationListSchema(NotificationsUnreadSchema):
    items = fields.List(fields.Nested(NotificationSchema))


class NotificationsSeenSchema(Schema):
    up_to = Aware(required=True, metadata={
        "description": "The newest notification's `at` the user was shown"})


class VocabSchema(Schema):
    channels = fields.List(Text())
    categories = fields.List(Text())
    statuses = fields.List(Text())
    open_statuses = fields.List(Text())
    colours = fields.List(Text())
    verdicts = fields.List(Text())
    visit_kinds = fields.List(Text())
    partners = fields.List(Text())
    zone_classes = fields.List(Text())
    countings = fields.List(Text(), metadata={
        "description": "How a deadline rule counts: hours, calendar or working days."})
    revisit_methods = fields.List(Text())
    respondent_kinds = fields.List(Text())
    satisfaction = fields.List(Text(), metadata={"description": "Best first."})
    attempt_outcomes = fields.List(Text(), metadata={
        "description": "A call attempt's outcome; all but answered are failed attempts."})
    question_kinds = fields.List(Text())
    sample_strata = fields.List(Text(), metadata={
        "description": "What a revisit sample may be stratified by."})
    audio_types = fields.List(Text(), metadata={
        "description": "Interview recordings' content types (no codecs parameter)."})
    labels = fields.Dict(keys=Text(), values=fields.Dict(), metadata={
        "description": "Names of values by group: {group: {value: {zh, en}}} for "
                       "categories, channels, statuses, verdicts, satisfaction and "
                       "revisit_methods."})
    role_sets = fields.Dict(keys=Text(), values=fields.List(Text()), metadata={
        "description": "Which roles are office (create, dispatch, review), field, admin "
                       "and revisit (record revisits)."})
    actions = fields.List(fields.Dict(), metadata={
        "description": "The transition table: action, from, to, roles, relation, params."})
    map = fields.Dict(metadata={"description": "Tile sources: {default, tiles: [{code, name, "
                                "url, attribution, crs: wgs84|gcj02, subdomains, max_zoom}]}"})


class MilestoneRuleSchema(Schema):
    name = Text(required=True)
    day = fields.Integer()
    hours = fields.Integer()
    until = Text(validate=validate.OneOf(("dispatched",)))


class ColourRuleSchema(Schema):
    colour = Text(required=True)
    from_day = fields.Integer()
    from_hour = fields.Integer()


class DeadlineRuleInSchema(Schema):
    code = _text(40, required=True)
    title = fields.Dict(keys=Text(), values=Text(), load_default=dict)
    source = _text(300, load_default="")
    channels = fields.List(Text(), required=True)
    key = fields.Boolean(allow_none=True, load_default=None)
    priority = fields.Integer(load_default=100)
    counting = Text(required=True)
    due = fields.Integer(required=True)
    milestones = fields.List(fields.Nested(MilestoneRuleSchema), load_default=list)
    colours = fields.List(fields.Nested(ColourRuleSchema), required=True)
    restart_on_transfer = fields.Boolean(load_default=False)
    max_extension = fields.Integer(allow_none=True, load_default=None)
    review_days = fields.Integer(allow_none=True, metadata={
        "description": "Days (of the rule's counting) a review takes when a dissatisfied "
                       "revisit sends a handled case back; 2 when not given."})


class DeadlineRuleSchema(Schema):
    code = Text()
    version = fields.Integer()
    created_at = fields.DateTime()
    body = fields.Dict()


class DeadlineRuleListSchema(Schema):
    items = fields.List(fields.Nested(DeadlineRuleSchema))


class RuleSavedSchema(Schema):
    rule = fields.Nested(DeadlineRuleSchema, allow_none=True)
    impact = fields.Dict(metadata={"description": "What the new version would do to open "
                                   "cases under this rule (they keep their version)."})


class DryRunSchema(Schema):
    dry_run = fields.Boolean(load_default=False)


class CalendarDaySchema(Schema):
    date = Text(required=True)
    kind = Text(required=True)
    name = Text(load_default="")


class CalendarInSchema(Schema):
    days = fields.List(fields.Dict(), required=True)
    source = _text(300, load_default="")


class CalendarSchema(Schema):
    year = fields.Integer()
    source = Text()
    days = fields.List(fields.Nested(CalendarDaySchema))


class CalendarYearsSchema(Schema):
    items = fields.List(fields.Dict())
    warning = Text(allow_none=True)
    missing_year = fields.Integer(allow_none=True)


class WebhookInSchema(Schema):
    url = _text(500, required=True, metadata={
        "description": "https:// (http:// outside production), a public host, no user:pass@"})
    unit_id = UUIDStr(load_default=None, allow_none=True, metadata={
        "description": "One of the admin's units (and below); default: the admin's unit."})

    @pre_load
    def no_secret(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "secret" in data:
            raise ValidationError("The server makes the secret and shows it once; do not "
                                  "send one.", "secret")
        return data


class WebhookItemSchema(Schema):
    id = Text()
    url = Text()
    unit = fields.Nested(UnitRefSchema)
    active = fields.Boolean()
    created_at = fields.DateTime()


class WebhookSchema(WebhookItemSchema):
    secret = Text(metadata={"description": "Shown once, when the webhook is added."})


class WebhookListSchema(Schema):
    items = fields.List(fields.Nested(WebhookItemSchema))


__all__ = ["CaseSchema"]
