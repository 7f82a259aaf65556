"""Schemas of fieldwork: visits and their readings, evidence, the noise standards."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.api.fields import Aware, FixSchema, PointSchema, Text, UUIDStr, _text
from server.domain.core import vocab
from server.domain.fieldwork import noise_inputs, noise_record


# ---- visits ----------------------------------------------------------------------------
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


def _bounded(field: str) -> validate.Range:
    """The field's bounds from the rules data, the ones the app is served and checks."""
    low, high = noise_inputs.input_range(field)
    return validate.Range(low, high, error=noise_inputs.range_message(field))


class WeatherSchema(Schema):
    precipitation = fields.Boolean(required=True, metadata={"description": "Rain or snow."})
    wind_ms = fields.Float(required=True, validate=_bounded("weather.wind_ms"))


def _level(field: str, description: str) -> fields.Float:
    return fields.Float(allow_none=True, validate=_bounded(field),
                        metadata={"description": description})


class MeasurementInSchema(Schema):
    kind = Text(required=True, validate=validate.OneOf(vocab.MEASUREMENT_KINDS))
    value_dba = fields.Float(required=True, validate=_bounded("value_dba"),
                             metadata={"description": "The Leq over the measured period."})
    zone_class = Text(validate=validate.OneOf(vocab.ZONE_CLASSES), allow_none=True)
    period = Text(required=True, validate=validate.OneOf(vocab.PERIODS))
    limit_dba = fields.Float(validate=_bounded("limit_dba"), allow_none=True, metadata={
        "description": "A stricter local limit for the Leq, applied as given (no indoor "
                       "reduction); the Lmax margins are added to it."})
    source = Text(load_default="meter",
                           validate=validate.OneOf(vocab.MEASUREMENT_SOURCES),
                           metadata={"description": "phone_estimate readings are shown "
                                     "against the limit but never judged (exceeded is null)."})
    device = _text(120, allow_none=True, metadata={
        "description": "The instrument or phone model; required for a phone_estimate."})
    calibration_offset_db = fields.Float(
        allow_none=True, validate=_bounded("calibration_offset_db"),
        metadata={"description": "The calibration offset the device applied, in dB; "
                  "recorded as sent, value_dba is not corrected again."})
    # The noise record (GB 22337-2008 / GB 12523-2011): every field optional; any of them
    # makes the record "full", judged on what the standard asks of it.
    meter = fields.Nested(MeterSchema, allow_none=True)
    calibrator = fields.Nested(CalibratorSchema, allow_none=True)
    calibration_before_db = _level("calibration_before_db",
                                   "The calibrator's reading before the measurement.")
    calibration_after_db = _level("calibration_after_db",
                                  "The calibrator's reading after; needs the one before.")
    position = Text(allow_none=True, validate=validate.OneOf(noise_record.POSITIONS),
                    metadata={"description": "indoor: structure-borne noise from fixed "
                              "equipment; indoor_boundary: indoors because the boundary is "
                              "under 1 m from the home (limit minus 10 dB(A))."})
    room_class = Text(allow_none=True, validate=validate.OneOf(noise_record.ROOM_CLASSES),
                      metadata={"description": "Only with position indoor."})
    windows = Text(allow_none=True, validate=validate.OneOf(noise_record.WINDOWS))
    weather = fields.Nested(WeatherSchema, allow_none=True)
    duration_s = fields.Float(allow_none=True, validate=_bounded("duration_s"),
                              metadata={"description": "The measured period, in seconds."})
    lmax_dba = _level("lmax_dba", "The maximum A-weighted level; not below value_dba.")
    noise_type = Text(allow_none=True, validate=validate.OneOf(noise_record.NOISE_TYPES))
    background_dba = _level("background_dba",
                            "The background with the source off; not above value_dba.")
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
        something is kept and marked not valid for enforcement); the relations are the
        rules data's, which the app checks too."""
        errors = noise_inputs.relation_problems(data)
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
    kind = Text(required=True, validate=validate.OneOf(vocab.RECORDED_VISIT_KINDS))
    started_at = Aware(required=True)
    ended_at = Aware(allow_none=True)
    location = fields.Nested(FixSchema, allow_none=True)
    participants = fields.List(Text(validate=validate.OneOf(vocab.PARTNERS)),
                               validate=validate.Length(max=20))
    findings = _text(20000)
    measurements = fields.List(fields.Nested(MeasurementInSchema),
                               validate=validate.Length(max=50))
    device_time = Aware(metadata={
        "description": "The phone's clock when the check was done (saved to be sent); "
                       "without sent_at, taken as its clock when sending, as before."})
    sent_at = Aware(metadata={"description": "The phone's clock when sending."})


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


# ---- evidence --------------------------------------------------------------------------
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


# ---- standards -------------------------------------------------------------------------
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
    defaults = fields.Dict(metadata={
        "description": "standard: of a category no standard names; position: of a record "
                       "that does not say."})
    inputs = fields.Dict(metadata={
        "description": "ranges ({field: {min, max, unit}}), relations between fields and "
                       "their messages: what the API refuses (422), checked by the app "
                       "before saving."})


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
