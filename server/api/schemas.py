"""Marshmallow schemas: what comes in (validated) and what goes out (documented)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.domain.cases import deadlines
from server.domain.core import text, vocab
from server.domain.fieldwork import noise_record

# The oldest and the newest time accepted anywhere: earlier or later is a typo, and far
# enough out the conversion to UTC no longer fits a datetime (or a database column).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2101, 1, 1, tzinfo=UTC)
MAX_PAGE = 100_000


class Text(fields.String):
    """Every string field: text a database can store and a screen or a file shows as it
    reads (server.domain.core.text: no NUL, no lone surrogate, no other control characters,
    no bidi controls)."""

    # A password is never shown: control characters in it harm nobody.
    shown = True

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        result = super()._deserialize(value, attr, data, **kwargs)
        wrong = text.problem(result, shown=self.shown)
        if wrong:
            raise ValidationError(wrong)
        return result


class Secret(Text):
    shown = False


class UUIDStr(fields.UUID):
    """A UUID checked on the way in, kept as its canonical string."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        result = super()._deserialize(value, attr, data, **kwargs)
        return str(result) if isinstance(result, uuid.UUID) else result


class Aware(fields.AwareDateTime):
    """A time with its UTC offset (a naive one is refused), between 1970 and 2100."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "range": f"Must be between {EARLIEST.year} and {LATEST.year - 1} (UTC).",
    }

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        result = super()._deserialize(value, attr, data, **kwargs)
        try:
            in_utc = result.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00+05:00 is in year 0 in UTC
            raise self.make_error("range") from None
        if not EARLIEST <= in_utc < LATEST:
            raise self.make_error("range")
        return result


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


def _text(max_len: int, **kw) -> Text:  # type: ignore[no-untyped-def]
    return Text(validate=validate.Length(max=max_len), **kw)


class PointSchema(Schema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, validate=validate.Range(-180, 180))


class FixSchema(PointSchema):
    accuracy_m = fields.Float(validate=validate.Range(min=0), allow_none=True)
    fixed_at = Aware(allow_none=True)
    source = Text(validate=validate.OneOf(vocab.GEO_SOURCES), allow_none=True)


class ComplainantSchema(Schema):
    name = _text(120, allow_none=True)
    phone = Text(allow_none=True,
                          validate=validate.Regexp(r"^\+?[0-9 ()\-]{3,20}$",
                                                   error="Not a phone number."))


class MaskedComplainantSchema(Schema):
    """The complainant as a case answer shows them: masked until a logged reveal."""

    name = Text(allow_none=True, metadata={"description": "Masked, e.g. 张*"})
    phone = Text(allow_none=True, metadata={"description": "Masked, e.g. 138****1234"})


class UnitRefSchema(Schema):
    id = Text()
    name = Text()


# ---- cases ---------------------------------------------------------------------------
class CaseCreateSchema(Schema):
    channel = Text(required=True, validate=validate.OneOf(vocab.CHANNELS))
    category = Text(required=True, validate=validate.OneOf(vocab.CATEGORIES))
    subject = Text(required=True, validate=[validate.Length(max=300), _not_blank])
    address = Text(required=True, validate=[validate.Length(max=500), _not_blank])
    location = fields.Nested(PointSchema, allow_none=True)
    description = _text(20000, load_default="")
    complainant = fields.Nested(ComplainantSchema, allow_none=True)
    received_at = Aware(required=True)
    unit_id = Text(required=True)
    key = fields.Boolean(load_default=False)
    leader = _text(120, allow_none=True, metadata={"description": "包案领导: the leader in "
                                                   "personal charge of a key or repeat case."})
    external_ref = _text(120, allow_none=True)


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
    q = _text(100)
    is_open = fields.Boolean(data_key="open", metadata={
        "description": "true: cases not closed; false: closed cases."})
    colour = Text(validate=validate.OneOf((*deadlines.COLOURS, "overdue")), metadata={
        "description": "Open cases whose deadline shows this colour now; overdue ones "
                       "stand apart (an overdue case is not red)."})
    key = fields.Boolean(metadata={"description": "Key cases (加星件) only, or none."})
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
                                     "days pass (seed 004: yellow day 5, blue 6, red 7)."})
    extended_days = fields.Integer()
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
    leader = Text(allow_none=True)
    verdict = Text(allow_none=True)
    result = Text(allow_none=True)
    assignees = fields.List(fields.Nested(UnitRefSchema), metadata={
        "description": "Inspectors the case was dispatched to: {id, name}."})
    co_units = fields.List(fields.Nested(lambda: CoUnitSchema()))
    actions = fields.List(Text(), metadata={
        "description": "What the current user may do now (single case answers only)."})
    deadline = fields.Nested(DeadlineSchema, allow_none=True,
                             metadata={"description": "Null once the case is closed."})


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


# ---- visits --------------------------------------------------------------------------
class LocalizedSchema(Schema):
    zh = Text()
    en = Text()


class MeterSchema(Schema):
    model = _text(120, allow_none=True)
    serial = _text(120, allow_none=True)
    class_ = Text(data_key="class", attribute="class", allow_none=True,
                  validate=validate.OneOf(noise_record.METER_CLASSES),
                  metadata={"description": "Class 2 or better (GB 22337-2008 5.1.1)."})


class CalibratorSchema(Schema):
    model = _text(120, allow_none=True)
    serial = _text(120, allow_none=True)


class WeatherSchema(Schema):
    precipitation = fields.Boolean(required=True, metadata={"description": "Rain or snow."})
    wind_ms = fields.Float(required=True, validate=validate.Range(0, 100))


def _level(description: str) -> fields.Float:
    return fields.Float(allow_none=True, validate=validate.Range(0, 200),
                        metadata={"description": description})


class MeasurementInSchema(Schema):
    kind = Text(required=True, validate=validate.OneOf(vocab.MEASUREMENT_KINDS))
    value_dba = fields.Float(required=True, validate=validate.Range(0, 200),
                             metadata={"description": "The Leq over the measured period."})
    zone_class = Text(validate=validate.OneOf(vocab.ZONE_CLASSES), allow_none=True)
    period = Text(required=True, validate=validate.OneOf(vocab.PERIODS))
    limit_dba = fields.Float(validate=validate.Range(0, 200), allow_none=True, metadata={
        "description": "A stricter local limit for the Leq, applied as given (no indoor "
                       "reduction); the Lmax margins are added to it."})
    source = Text(load_default="meter",
                           validate=validate.OneOf(vocab.MEASUREMENT_SOURCES),
                           metadata={"description": "phone_estimate readings are shown "
                                     "against the limit but never judged (exceeded is null)."})
    device = _text(120, allow_none=True, metadata={
        "description": "The instrument or phone model; required for a phone_estimate."})
    calibration_offset_db = fields.Float(
        allow_none=True, validate=validate.Range(-30, 30),
        metadata={"description": "The calibration offset the device applied, in dB; "
                  "recorded as sent, value_dba is not corrected again."})
    # The noise record (GB 22337-2008 / GB 12523-2011): every field optional; any of them
    # makes the record "full", judged on what the standard asks of it.
    meter = fields.Nested(MeterSchema, allow_none=True)
    calibrator = fields.Nested(CalibratorSchema, allow_none=True)
    calibration_before_db = _level("The calibrator's reading before the measurement.")
    calibration_after_db = _level("The calibrator's reading after; needs the one before.")
    position = Text(allow_none=True, validate=validate.OneOf(noise_record.POSITIONS),
                    metadata={"description": "indoor: structure-borne noise from fixed "
                              "equipment; indoor_boundary: indoors because the boundary is "
                              "under 1 m from the home (limit minus 10 dB(A))."})
    room_class = Text(allow_none=True, validate=validate.OneOf(noise_record.ROOM_CLASSES),
                      metadata={"description": "Only with position indoor."})
    windows = Text(allow_none=True, validate=validate.OneOf(noise_record.WINDOWS))
    weather = fields.Nested(WeatherSchema, allow_none=True)
    duration_s = fields.Float(allow_none=True, validate=validate.Range(1, 86400),
                              metadata={"description": "The measured period, in seconds."})
    lmax_dba = _level("The maximum A-weighted level; not below value_dba.")
    noise_type = Text(allow_none=True, validate=validate.OneOf(noise_record.NOISE_TYPES))
    background_dba = _level("The background with the source off; not above value_dba.")
    meter_photo_client_id = UUIDStr(allow_none=True, metadata={
        "description": "The client_id of the photo of the meter's display."})

    @validates_schema
    def _phone_needs_device(self, data: dict, **_kw: object) -> None:
        if data.get("source") == "phone_estimate" and not (data.get("device") or "").strip():
            raise ValidationError("A phone estimate must name the phone model.",
                                  field_name="device")

    @validates_schema
    def _record_hangs_together(self, data: dict, **_kw: object) -> None:
        """Input that contradicts itself is refused whole (a record that only lacks
        something is kept and marked not valid for enforcement)."""
        errors: dict[str, list[str]] = {}
        value = data.get("value_dba")
        if data.get("calibration_after_db") is not None \
                and data.get("calibration_before_db") is None:
            errors["calibration_after_db"] = [
                "Given without calibration_before_db: the drift needs both."]
        if value is not None and (data.get("background_dba") or 0) > value:
            errors["background_dba"] = ["Above value_dba: the background cannot be louder "
                                        "than the reading it is under."]
        if data.get("room_class") is not None and data.get("position") != "indoor":
            errors["room_class"] = ["Only for position indoor (structure-borne noise)."]
        if value is not None and data.get("lmax_dba") is not None \
                and data["lmax_dba"] < value:
            errors["lmax_dba"] = ["Below value_dba: the maximum level cannot be under the Leq."]
        if errors:
            raise ValidationError(errors)


class ReasonSchema(Schema):
    code = Text()
    clause = Text(allow_none=True, metadata={"description": "Standard and clause."})
    message = fields.Nested(LocalizedSchema)


class RuleSchema(Schema):
    code = Text()
    clause = Text(allow_none=True)
    text = fields.Nested(LocalizedSchema)


class CheckSchema(Schema):
    rule = Text(metadata={"description": "The rule's code."})
    value_dba = fields.Float()
    limit_dba = fields.Float()
    excess_dba = fields.Float()
    exceeded = fields.Boolean()


class VerdictSchema(Schema):
    exceeded = fields.Boolean(allow_none=True)
    rule = fields.Nested(RuleSchema, allow_none=True, metadata={
        "description": "The rule that decided: the Leq limit, or an Lmax rule when the "
                       "Leq is within and the Lmax is over."})
    limit_dba = fields.Float(allow_none=True, metadata={
        "description": "What the deciding value was held against (for an Lmax rule, the "
                       "limit plus its margin)."})
    excess_dba = fields.Float(allow_none=True)
    checks = fields.List(fields.Nested(CheckSchema), metadata={
        "description": "Every rule checked, the Leq (corrected) first."})


class MeterPhotoSchema(Schema):
    client_id = Text()
    evidence_id = Text(allow_none=True, metadata={
        "description": "Null until the photo is declared on the same case."})


class MeasurementSchema(MeasurementInSchema):
    id = Text()
    standard = Text(allow_none=True)
    exceeded = fields.Boolean(allow_none=True)
    record = Text(metadata={"description": "simple: a one-figure reading; full: a noise "
                            "record."})
    valid_for_enforcement = fields.Boolean()
    invalid_reasons = fields.List(fields.Nested(ReasonSchema))
    background_correction_db = fields.Float(allow_none=True)
    corrected_dba = fields.Float(allow_none=True)
    verdict = fields.Nested(VerdictSchema, allow_none=True, metadata={
        "description": "Null when the reading cannot be judged: a phone estimate, no limit "
                       "(zone or room class missing), or a background too close."})
    meter_photo = fields.Nested(MeterPhotoSchema, allow_none=True)
    rules_version = Text(allow_none=True, metadata={
        "description": "The rules data's version the reading was judged under (null before "
                       "the noise record existed)."})


class VisitCreateSchema(Schema):
    client_id = UUIDStr(required=True)
    kind = Text(required=True, validate=validate.OneOf(vocab.VISIT_KINDS))
    started_at = Aware(required=True)
    ended_at = Aware(allow_none=True)
    location = fields.Nested(FixSchema, allow_none=True)
    participants = fields.List(Text(validate=validate.OneOf(vocab.PARTNERS)),
                               validate=validate.Length(max=20))
    findings = _text(20000)
    measurements = fields.List(fields.Nested(MeasurementInSchema),
                               validate=validate.Length(max=50))
    device_time = Aware(metadata={"description": "The phone's clock when sending."})


class VisitSchema(Schema):
    id = Text()
    client_id = Text()
    case_id = Text()
    kind = Text()
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    location = fields.Nested(FixSchema, allow_none=True)
    participants = fields.List(Text())
    findings = Text()
    measurements = fields.List(fields.Nested(MeasurementSchema))
    created_by = Text()
    received_at = fields.DateTime()
    device_offset_s = fields.Float(allow_none=True)


# ---- evidence ------------------------------------------------------------------------
class EvidenceDeclareSchema(Schema):
    client_id = UUIDStr(required=True)
    case_id = Text(required=True)
    visit_id = Text(allow_none=True)
    revisit_id = Text(allow_none=True, metadata={
        "description": "A revisit's photo (the door visited, a signed paper questionnaire)."})
    respondent_id = Text(allow_none=True, metadata={
        "description": "An interview recording: the respondent who consented to it "
                       "(required for audio types)."})
    sha256 = Text(required=True, validate=validate.Regexp(
        r"^[0-9a-fA-F]{64}$", error="A SHA-256 is 64 hexadecimal characters."))
    size = fields.Integer(required=True, validate=validate.Range(min=1))
    content_type = Text(required=True, validate=validate.Length(max=60))
    captured_at = Aware(required=True)
    geo = fields.Nested(FixSchema, allow_none=True)
    photographer = _text(120, allow_none=True)
    place = _text(300, allow_none=True)
    caption = _text(2000, allow_none=True)
    device_time = Aware(metadata={"description": "The phone's clock when sending."})


class UploadSchema(Schema):
    method = Text()
    url = Text()
    headers = fields.Dict(keys=Text(), values=Text())


class ExifGpsSchema(Schema):
    lat = fields.Float()
    lon = fields.Float()


class ExifSchema(Schema):
    taken_at = Text(metadata={"description": "As written by the camera; no offset "
                                       "unless the camera recorded one."})
    gps = fields.Nested(ExifGpsSchema)
    make = Text()
    model = Text()
    orientation = fields.Integer()


class ThumbSchema(Schema):
    width = fields.Integer()
    height = fields.Integer()
    url = Text()


class LocatedSchema(PointSchema):
    source = Text(metadata={"description": "geolocation (primary) or exif"})


class EvidenceSchema(Schema):
    id = Text()
    client_id = Text()
    case_id = Text()
    visit_id = Text(allow_none=True)
    revisit_id = Text(allow_none=True)
    respondent_id = Text(allow_none=True)
    state = Text(metadata={"description": "pending, stored, rejected or expired"})
    short_code = Text(allow_none=True, metadata={
        "description": "XXXX-XXXX: what the photo's QR code and printed code resolve to "
                       "(GET /api/verify/<short_code>)."})
    sha256 = Text()
    size = fields.Integer()
    content_type = Text()
    captured_at = fields.DateTime()
    received_at = fields.DateTime()
    device_offset_s = fields.Float(allow_none=True)
    geo = fields.Nested(FixSchema, allow_none=True)
    location = fields.Nested(LocatedSchema, allow_none=True)
    photographer = Text(allow_none=True)
    place = Text(allow_none=True)
    caption = Text(allow_none=True)
    uploaded_by = Text()
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    duration_s = fields.Float(allow_none=True, metadata={"description": "Recordings."})
    exif = fields.Nested(ExifSchema, allow_none=True)
    exif_errors = fields.List(Text())
    flags = fields.List(fields.Dict())
    thumbnails = fields.Dict(keys=Text(), values=fields.Nested(ThumbSchema))
    download_url = Text(allow_none=True)
    links_expire_in = fields.Integer(allow_none=True)
    stored_at = fields.DateTime(allow_none=True)
    rejected_reason = Text(allow_none=True)
    last_error = Text(allow_none=True)
    upload = fields.Nested(UploadSchema, allow_none=True)


class EvidenceListSchema(Schema):
    items = fields.List(fields.Nested(EvidenceSchema))


class VisitListSchema(Schema):
    items = fields.List(fields.Nested(VisitSchema))


# ---- session -------------------------------------------------------------------------
class LoginSchema(Schema):
    username = _text(80, required=True)
    password = Secret(required=True, validate=validate.Length(max=200))


class UserSchema(Schema):
    id = Text()
    username = Text()
    display_name = Text()
    role = Text()
    units = fields.List(fields.Nested(UnitRefSchema))
    sees_every_unit = fields.Boolean(metadata={
        "description": "The user's units cover every unit (the district's): only an admin "
                       "who does changes district-wide settings."})


class LoginResultSchema(Schema):
    user = fields.Nested(UserSchema)
    csrf_token = Text()


class SessionSchema(Schema):
    id = Text(metadata={"description": "A prefix of the token's hash; DELETE it to end it"})
    created_at = fields.DateTime()
    last_seen_at = fields.DateTime(allow_none=True)
    address = Text(allow_none=True)
    user_agent = Text(allow_none=True)
    current = fields.Boolean(metadata={"description": "The session making this request"})


class SessionListSchema(Schema):
    items = fields.List(fields.Nested(SessionSchema))


class MeSchema(UserSchema):
    csrf_token = Text()


# ---- standards -----------------------------------------------------------------------
class NightSchema(Schema):
    start = Text(metadata={"description": "HH:MM, local time"})
    end = Text(metadata={"description": "HH:MM, local time"})
    source = Text()


class DayNightSchema(Schema):
    day = fields.Float(allow_none=True)
    night = fields.Float(allow_none=True)


class NoiseStandardSchema(Schema):
    code = Text()
    title = Text()
    categories = fields.List(Text())
    limits_dba = fields.Dict(keys=Text(), values=fields.Nested(DayNightSchema),
                             metadata={"description": "By zone class; \"*\" for every one."})
    night_max_excess_dba = fields.Float(metadata={
        "description": "At night the maximum level may exceed the limit by at most this."})


class NoiseOverrideSchema(Schema):
    code = Text()
    categories = fields.List(Text())
    zone_class = Text(allow_none=True)
    limits_dba = fields.Nested(DayNightSchema)


class VocabItemSchema(Schema):
    value = Text()
    label = fields.Nested(LocalizedSchema)


class NoiseRulesSchema(Schema):
    version = Text(metadata={"description": "Stored with each judgement (rules_version)."})
    note = Text()
    vocab = fields.Dict(keys=Text(), values=fields.List(fields.Nested(VocabItemSchema)),
                        metadata={"description": "positions, room_classes, windows, "
                                  "noise_types, meter_classes: the values the API accepts."})
    reasons = fields.Dict(keys=Text(), values=fields.Nested(LocalizedSchema), metadata={
        "description": "Why a record is not valid for enforcement, by code ({name} is "
                       "filled in)."})
    standards = fields.Dict(keys=Text(), values=fields.Dict(), metadata={
        "description": "By standard code: each rule with its clause, text and figures."})
    given_limit = fields.Nested(RuleSchema)


class NoiseStandardsSchema(Schema):
    version = Text()
    night = fields.Nested(NightSchema)
    standards = fields.List(fields.Nested(NoiseStandardSchema))
    overrides = fields.List(fields.Nested(NoiseOverrideSchema), metadata={
        "description": "A city's stricter limits; already applied in `limits`."})
    limits = fields.Dict(
        keys=Text(),
        values=fields.Dict(keys=Text(), values=fields.Nested(DayNightSchema)),
        metadata={"description": "category -> zone class -> {day, night} in dB(A): the "
                  "limit a meter reading on a case of that category is judged against."})
    rules = fields.Nested(NoiseRulesSchema, metadata={
        "description": "How a reading is taken and judged, per standard (noise_rules.json)."})


class LiveSchema(Schema):
    status = Text()


class HealthSchema(Schema):
    status = Text()
    database = Text()
    storage = Text()
