"""What every context's schemas are made of: the field types (every string is `Text`), the
times accepted, points and fixes, and the health answers. Each context's schemas sit beside
its routes (server/api/<context>/schemas.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from marshmallow import Schema, ValidationError, fields, validate

from server.domain.core import received, runtime, text, vocab
from server.models.base import utcnow

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


# A complaint received before this is a typo (or a wrong column), not an old case.
EARLIEST_RECEIVED = received.EARLIEST


class ReceivedAt(Aware):
    """When a complaint was received: the one rule for the office's case form (create and
    edit) and a platform's push. Not in the future (beyond CLOCK_DRIFT_S, the clocks'
    allowed disagreement), not before 2000."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "future": "Must not be later than now (by more than {drift} s).",
        "too_old": f"Must not be before {EARLIEST_RECEIVED.year}.",
    }

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        result = super()._deserialize(value, attr, data, **kwargs)
        drift = int(runtime.setting("CLOCK_DRIFT_S"))
        # The domain's rule, which a sheet's cells follow too.
        kind = received.problem_kind(result, utcnow(), drift_s=drift)
        if kind is not None:
            raise self.make_error(kind, drift=drift)
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


class UnitRefSchema(Schema):
    id = Text()
    name = Text()


class LiveSchema(Schema):
    status = Text()


class HealthSchema(Schema):
    status = Text()
    database = Text()
    storage = Text()
