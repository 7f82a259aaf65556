"""Schemas of a case's life: the case record, transitions, timeline, board, map,
notifications, people, units and the vocabularies. The admin's rules, calendar and
webhooks are in admin_schemas."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from server.api.fields import (
    MAX_PAGE,
    Aware,
    PointSchema,
    ReceivedAt,
    Text,
    UnitRefSchema,
    UUIDStr,
    _not_blank,
    _text,
)
from server.domain.cases import deadlines
from server.domain.core import vocab


class ComplainantSchema(Schema):
    name = _text(120, allow_none=True)
    phone = Text(allow_none=True,
                          validate=validate.Regexp(r"^\+?[0-9 ()\-]{3,20}$",
                                                   error="Not a phone number."))


class MaskedComplainantSchema(Schema):
    """The complainant as a case answer shows them: masked until a logged reveal."""

    name = Text(allow_none=True, metadata={"description": "Masked, e.g. 张*"})
    phone = Text(allow_none=True, metadata={"description": "Masked, e.g. 138****1234"})


class CaseCreateSchema(Schema):
    channel = Text(required=True, validate=validate.OneOf(vocab.CHANNELS))
    category = Text(required=True, validate=validate.OneOf(vocab.CATEGORIES))
    subject = Text(required=True, validate=[validate.Length(max=300), _not_blank])
    address = Text(required=True, validate=[validate.Length(max=500), _not_blank])
    location = fields.Nested(PointSchema, allow_none=True)
    description = _text(20000, load_default="")
    complainant = fields.Nested(ComplainantSchema, allow_none=True)
    received_at = ReceivedAt(required=True)
    unit_id = Text(required=True)
    key = fields.Boolean(load_default=False)
    leader = _text(120, allow_none=True, metadata={"description": "包案领导: the leader in "
                                                   "personal charge of a key or repeat case."})
    external_ref = _text(120, allow_none=True)
    leader_id = Text(allow_none=True, metadata={
        "description": "包案领导 as a user (GET /api/leaders): an active leader of the case's "
                       "unit or a unit above it (422 case.not_a_leader). Null: none."})


class CaseUpdateSchema(CaseCreateSchema):
    """Any case field may be left out; the version read is required."""

    version = fields.Integer(required=True)

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("partial", tuple(CaseCreateSchema._declared_fields))
        super().__init__(**kwargs)  # type: ignore[arg-type]


class CaseQuerySchema(Schema):
    status = Text(validate=validate.OneOf(vocab.CASE_STATUSES))
    category = Text(validate=validate.OneOf(vocab.CATEGORIES))
    channel = Text(validate=validate.OneOf(vocab.CHANNELS))
    unit = Text()
    q = _text(100, metadata={
        "description": "Words in the subject, address, description or reference; for "
                       "those who may reveal a contact, also the complainant's full name."})
    phone = _text(40, metadata={
        "description": "The complainant's number, exactly (spaces, +86 and full-width "
                       "digits are fine; a part of a number finds nothing). Matched on a "
                       "keyed hash, never in clear; reveal roles only (403 "
                       "case.search_forbidden), each lookup audited and rate limited."})
    received_from = Aware(data_key="from", metadata={"description": "Received at or after."})
    received_to = Aware(data_key="to", metadata={"description": "Received before."})
    is_open = fields.Boolean(data_key="open", metadata={
        "description": "true: cases not closed; false: closed cases."})
    colour = Text(validate=validate.OneOf((*deadlines.COLOURS, "overdue")), metadata={
        "description": "Open cases whose deadline shows this colour now; overdue ones "
                       "stand apart (an overdue case is not red)."})
    key = fields.Boolean(metadata={"description": "Key cases (加星件) only, or none."})
    leader = Text(metadata={"description": "Cases held by this leader (a user id), or `me`: "
                            "the cases the current user holds (包案)."})
    hard = fields.Boolean(metadata={"description": "Hard cases only (repeat, backlog, "
                                                   "difficult: GET /api/hard-cases), or none."})
    mine = fields.Boolean(load_default=False, metadata={
        "description": "Only cases dispatched to me."})
    sort = Text(load_default="received", validate=validate.OneOf(("received", "due")),
                         metadata={"description": "received: newest first (the default); "
                                   "due: most urgent first (earliest due_at, key cases first "
                                   "among equals), closed cases last."})
    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class MilestoneSchema(Schema):
    name = Text(metadata={"description": "e.g. dispatch, reminder, "
                                   "preliminary_review, closure"})
    at = fields.DateTime()


class DeadlineSchema(Schema):
    rule = Text(metadata={"description": "The deadline rule's code, e.g. 1+3+5+7 "
                                   "or petition-60 (GET /api/deadline-rules)."})
    rule_version = fields.Integer(metadata={"description": "The version frozen on the case."})
    due_at = fields.DateTime()
    colour = Text(metadata={"description": "green, blue, yellow or red as the rule's "
                                     "days pass, always in that order (least to most "
                                     "urgent; 1+3+5+7: blue day 5, yellow 6, red 7)."})
    extended_days = fields.Integer()
    provisional = fields.Boolean(metadata={
        "description": "Counted with weekends only: a year it reaches has no working-day "
                       "calendar loaded. Counted again when the year is loaded."})
    next_milestone = fields.Nested(MilestoneSchema, allow_none=True,
                                   metadata={"description": "The next one still ahead; null "
                                             "once all have passed."})
    overdue = fields.Boolean()


class CaseSchema(Schema):
    id = Text()
    channel = Text()
    category = Text()
    subject = Text()
    address = Text()
    location = fields.Nested(PointSchema, allow_none=True)
    description = Text()
    complainant = fields.Nested(MaskedComplainantSchema, allow_none=True)
    received_at = fields.DateTime()
    unit = fields.Nested(UnitRefSchema)
    unit_id = Text()
    key = fields.Boolean()
    external_ref = Text(allow_none=True)
    status = Text()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    leader = fields.Nested(lambda: LeaderRefSchema(), allow_none=True, metadata={
        "description": "包案领导: {id, name}; id null for the free text of older cases."})
    verdict = Text(allow_none=True)
    result = Text(allow_none=True)
    assignees = fields.List(fields.Nested(UnitRefSchema), metadata={
        "description": "Inspectors the case was dispatched to: {id, name}."})
    co_units = fields.List(fields.Nested(lambda: CoUnitSchema()))
    actions = fields.List(Text(), metadata={
        "description": "What the current user may do now (single case answers only)."})
    withheld = fields.List(fields.Nested(lambda: WithheldSchema()), metadata={
        "description": "Single case answers only: actions not offered, with why."})
    leads = fields.Boolean(metadata={
        "description": "Single case answers only: the viewer's unit leads the case (may "
                       "edit it, see its complainant); false for a co-handling unit (协办)."})
    deadline = fields.Nested(DeadlineSchema, allow_none=True,
                             metadata={"description": "Null once the case is closed."})


class LeaderRefSchema(Schema):
    id = Text(allow_none=True)
    name = Text()


class CoUnitSchema(Schema):
    id = Text()
    name = Text()
    part = Text()


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSchema))
    total = fields.Integer(metadata={"description": "Exact up to 1,000; beyond that "
                                     "1000 with total_exact false."})
    total_exact = fields.Boolean()
    page = fields.Integer()
    per_page = fields.Integer()


class RevealSchema(Schema):
    reason = _text(500, required=True)


class TransitionSchema(Schema):
    """The action's own parameters (GET /api/vocab: actions[].params) travel beside these."""

    class Meta:
        unknown = INCLUDE

    action = Text(required=True)
    version = fields.Integer(required=True, metadata={"description": "The version you read."})
    client_id = UUIDStr(load_default=None, metadata={
        "description": "A phone's UUID for the action: a retry is applied once."})
    device_time = Aware(load_default=None, metadata={
        "description": "The phone's clock when the user acted (an action queued offline "
                       "is sent later). Kept beside the receipt time; the action counts "
                       "as done then, within bounds: not after receipt, not before the "
                       "phone's last contact (clamped, and flagged, outside them)."})
    sent_at = Aware(load_default=None, metadata={
        "description": "The phone's clock when sending: with device_time, how long the "
                       "action waited on the phone, whatever its clock says."})


class ParamSchema(Schema):
    name = Text()
    kind = Text(metadata={"description": "unit | users | text | texts | days | verdict"})
    required = fields.Boolean()


class ActionSchema(Schema):
    action = Text()
    params = fields.List(fields.Nested(ParamSchema))


class WithheldSchema(Schema):
    """An action the table allows now that a rule refuses this user, and why."""

    action = Text()
    code = Text(metadata={"description": "The problem code the action would answer."})
    detail = Text()
    message = fields.Dict(keys=Text(), values=Text(), allow_none=True,
                          metadata={"description": "Why, {zh, en}."})


class ActionsSchema(Schema):
    version = fields.Integer()
    status = Text()
    actions = fields.List(fields.Nested(ActionSchema))
    withheld = fields.List(fields.Nested(WithheldSchema), metadata={
        "description": "Actions not offered to this user, with why (approve for someone "
                       "who handled the case: closure.own_case)."})


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
    leader = Text(metadata={"description": "Cases held by this leader (a user id), or `me`."})


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
    leader = Text(allow_none=True, metadata={"description": "The leader in charge's name."})
    leader_id = Text(allow_none=True)
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
    feedback_methods = fields.List(Text(), metadata={
        "description": "How the complainant was told the result (答复/反馈)."})
    respondent_kinds = fields.List(Text())
    satisfaction = fields.List(Text(), metadata={"description": "Best first."})
    attempt_outcomes = fields.List(Text(), metadata={
        "description": "A call attempt's outcome; all but answered are failed attempts."})
    attempt_rules = fields.Dict(metadata={
        "description": "When failed calls make a revisit unreachable: {min_attempts, gap_min "
                       "(minutes between counted calls), timezone (of the half-days they "
                       "must not all fall in), final (outcomes that end it at once)}."})
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
        "description": "Which roles are office (create, dispatch, review), field, admin, "
                       "revisit (record revisits), leader (领导: read and instruct), "
                       "instruction (record leaders' instructions) and feedback (record "
                       "telling the complainant)."})
    actions = fields.List(fields.Dict(), metadata={
        "description": "The transition table: action, from, to, roles, relation, params."})
    map = fields.Dict(metadata={"description": "Tile sources: {default, tiles: [{code, name, "
                                "url, attribution, crs: wgs84|gcj02, subdomains, max_zoom}]}"})


__all__ = ["CaseSchema"]
