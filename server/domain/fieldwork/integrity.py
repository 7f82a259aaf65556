"""Integrity flags on a stored photo: facts an office reviewer should weigh, not verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from server.domain.core.geo import distance_m


@dataclass(frozen=True)
class Thresholds:
    far_from_case_m: int
    clock_drift_s: int
    local_timezone: str


# HEIF and HEIC are one container format: media names what it finds image/heic.
_SAME_TYPE = {"image/heif": "image/heic"}


def _flag(code: str, message: str, **data: object) -> dict:
    return {"code": code, "message": message, **data}


def photo_location(geo: tuple[float, float] | None,
                   exif_gps: tuple[float, float] | None) -> tuple[tuple[float, float], str] | None:
    """The phone's geolocation fix is primary (browsers strip EXIF GPS); EXIF corroborates."""
    if geo is not None:
        return geo, "geolocation"
    if exif_gps is not None:
        return exif_gps, "exif"
    return None


def integrity_flags(*, exif_gps: tuple[float, float] | None, exif_taken_at: datetime | None,
                    exif_errors: list[str], geo: tuple[float, float] | None,
                    case_location: tuple[float, float] | None, captured_at: datetime,
                    received_at: datetime, device_offset_s: float | None,
                    duplicate_case_ids: list[str], declared_type: str, content_type: str,
                    limits: Thresholds, photo: bool = True) -> list[dict]:
    """The flags of a stored photo, or of a recording (`photo=False`: no EXIF, no place:
    only the type, the clocks and duplicates are judged)."""
    flags: list[dict] = []
    if _SAME_TYPE.get(declared_type, declared_type) != _SAME_TYPE.get(content_type,
                                                                      content_type):
        # The phone's declared type is a claim; the content decides what the file is.
        flags.append(_flag("declared_type_differs",
                           f"Declared as {declared_type}, but the content is {content_type}.",
                           declared=declared_type, content=content_type))
    if photo and exif_gps is None:
        flags.append(_flag("no_gps", "The photo file carries no GPS position."))
    located = photo_location(geo, exif_gps) if photo else None
    if photo and located is None:
        flags.append(_flag("no_location", "Neither the phone nor the photo gave a position."))
    if photo and exif_taken_at is None:
        flags.append(_flag("no_exif_time", "The photo file carries no time taken."))
    if exif_errors:
        flags.append(_flag("metadata_unreadable", "Part of the photo's metadata is unreadable.",
                           errors=exif_errors))
    if device_offset_s is not None and abs(device_offset_s) > limits.clock_drift_s:
        flags.append(_flag("clock_drift", "The phone's clock differs from the server's.",
                           offset_s=round(device_offset_s)))
    if (captured_at - received_at).total_seconds() > limits.clock_drift_s:
        flags.append(_flag("captured_in_future", "The capture time is later than its receipt.",
                           ahead_s=round((captured_at - received_at).total_seconds())))
    if exif_taken_at is not None:
        taken = exif_taken_at
        if taken.tzinfo is None:  # cameras write local wall time without a zone
            taken = taken.replace(tzinfo=ZoneInfo(limits.local_timezone))
        gap = (taken - captured_at).total_seconds()
        if abs(gap) > limits.clock_drift_s:
            flags.append(_flag("exif_time_mismatch",
                               "The time in the photo differs from the capture time.",
                               difference_s=round(gap)))
    if located is not None and case_location is not None:
        distance = distance_m(located[0], case_location)
        if distance > limits.far_from_case_m:
            flags.append(_flag("far_from_case", "Taken far from the case's address.",
                               distance_m=round(distance), source=located[1]))
    if geo is not None and exif_gps is not None:
        apart = distance_m(geo, exif_gps)
        if apart > limits.far_from_case_m:
            flags.append(_flag("gps_disagrees",
                               "The photo's GPS and the phone's fix are far apart.",
                               distance_m=round(apart)))
    if duplicate_case_ids:
        flags.append(_flag("duplicate_bytes", "The same photo is filed on another case.",
                           case_ids=sorted(duplicate_case_ids)))
    return flags
