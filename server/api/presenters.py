"""Models to response dicts (the schemas then document and dump them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request, url_for

from server.domain.accounts import roles
from server.domain.cases.deadline_rules import deadline_of
from server.domain.cases.deadlines import Deadline
from server.domain.core import runtime
from server.domain.core.privacy import mask_name, mask_phone
from server.domain.fieldwork import evidence as evidence_service
from server.domain.fieldwork import noise_record
from server.domain.fieldwork import visits as visit_service
from server.domain.fieldwork.integrity import photo_location
from server.models import Case, Evidence, Measurement, User, Visit
from server.models.base import utcnow
from server.storage import UploadTarget


def absolute(url: str) -> str:
    """Local-disk links are paths on this server; phones and scripts want whole URLs."""
    return request.host_url.rstrip("/") + url if url.startswith("/") else url


def present_deadline(deadline: Deadline | None) -> dict[str, Any] | None:
    if deadline is None:
        return None
    milestone = deadline.next_milestone
    return {"rule": deadline.rule, "rule_version": deadline.rule_version,
            "due_at": deadline.due_at, "colour": deadline.colour,
            "overdue": deadline.overdue, "extended_days": deadline.extended_days,
            "provisional": deadline.provisional,
            "next_milestone": {"name": milestone.name, "at": milestone.at}
            if milestone else None}


def present_case(case: Case, now: datetime | None = None,
                 actions: list[str] | None = None,
                 withheld: list[dict[str, Any]] | None = None,
                 leads: bool | None = None) -> dict[str, Any]:
    """`now` fixes the moment the deadline is told at (one moment for a whole list);
    `actions`, for a single case, what the viewer may do now; `leads`, whether the
    viewer's unit leads it (not only co-handles it)."""
    has_contact = case.complainant_name or case.complainant_phone
    return {
        **{k: getattr(case, k) for k in (
            "id", "channel", "category", "subject", "address", "description", "received_at",
            "unit_id", "key", "external_ref", "status", "version", "created_at",
            "updated_at", "closed_at", "verdict", "result")},
        "leader": present_leader(case),
        "assignees": [{"id": u.id, "name": u.display_name} for u in case.assignees],
        "co_units": [{"id": cu.unit_id, "name": cu.unit.name, "part": cu.part}
                     for cu in case.co_units],
        **({"actions": actions} if actions is not None else {}),
        **({"withheld": withheld} if withheld is not None else {}),
        **({"leads": leads} if leads is not None else {}),
        "location": {"lat": case.lat, "lon": case.lon} if case.lat is not None else None,
        "complainant": {"name": mask_name(case.complainant_name),
                        "phone": mask_phone(case.complainant_phone)} if has_contact else None,
        "unit": {"id": case.unit.id, "name": case.unit.name},
        "deadline": present_deadline(deadline_of(case, now or utcnow())),
    }


def present_leader(case: Case) -> dict[str, Any] | None:
    """The leader in charge: the user (id, name), else the free text older cases keep
    (id null)."""
    if case.leader_user is not None:
        return {"id": case.leader_user.id,
                "name": case.leader_user.display_name or case.leader_user.username}
    return {"id": None, "name": case.leader} if case.leader else None


def leader_name(case: Case) -> str | None:
    found = present_leader(case)
    return found["name"] if found else None


def case_fields(data: dict[str, Any]) -> dict[str, Any]:
    """API shape (nested location/complainant) to model columns."""
    out = {k: v for k, v in data.items() if k not in ("location", "complainant", "version")}
    if "location" in data:
        loc = data["location"] or {}
        out["lat"], out["lon"] = loc.get("lat"), loc.get("lon")
    if "complainant" in data:
        who = data["complainant"] or {}
        out["complainant_name"], out["complainant_phone"] = who.get("name"), who.get("phone")
    return out


def present_visit(visit: Visit, photos: dict[str, str] | None = None) -> dict[str, Any]:
    """`photos`: the meter photos of a whole list, read once (meter_photos)."""
    if photos is None:
        photos = visit_service.meter_photos([visit])
    return {
        **{k: getattr(visit, k) for k in (
            "id", "client_id", "case_id", "kind", "started_at", "ended_at", "participants",
            "findings", "created_by", "received_at", "device_offset_s")},
        "location": {"lat": visit.lat, "lon": visit.lon, "accuracy_m": visit.accuracy_m}
        if visit.lat is not None else None,
        "measurements": [present_measurement(m, photos) for m in visit.measurements],
    }


def present_measurement(m: Measurement, photos: dict[str, str]) -> dict[str, Any]:
    """A reading with its noise record echoed and its frozen assessment. A reading from
    before the record existed (record_kind null) is a one-figure, "simple" one."""
    record = m.record_data or {}
    photo = m.meter_photo_client_id
    return {
        **{k: getattr(m, k) for k in ("id", "kind", "value_dba", "zone_class", "period",
                                      "limit_dba", "standard", "exceeded", "source",
                                      "device", "calibration_offset_db", "lmax_dba",
                                      "background_dba", "meter_photo_client_id",
                                      "background_correction_db", "corrected_dba",
                                      "verdict", "rules_version")},
        **{k: record.get(k) for k in noise_record.RECORD_DATA_FIELDS},
        "record": m.record_kind or "simple",
        "valid_for_enforcement": bool(m.valid_for_enforcement),
        "invalid_reasons": m.invalid_reasons if m.record_kind
        else noise_record.legacy_reasons(m.standard),
        "meter_photo": {"client_id": photo, "evidence_id": photos.get(photo)}
        if photo else None,
    }


def present_evidence(ev: Evidence, viewer: User,
                     upload: UploadTarget | None = None) -> dict[str, Any]:
    """`viewer`: the flags name only the cases this user may see."""
    geo = None
    if ev.geo_lat is not None:
        geo = {"lat": ev.geo_lat, "lon": ev.geo_lon, "accuracy_m": ev.geo_accuracy_m,
               "fixed_at": ev.geo_fixed_at, "source": ev.geo_source}
    exif_gps = (ev.exif or {}).get("gps")
    located = photo_location((ev.geo_lat, ev.geo_lon) if geo else None,
                             (exif_gps["lat"], exif_gps["lon"]) if exif_gps else None)
    links = evidence_service.thumbnail_links(ev, viewer)
    stored = ev.state == "stored"
    # A revisit's recording or paper is a resident's answer: no link for those who may
    # not read answers (the download itself is refused to them too).
    offered = stored and (ev.revisit_id is None or roles.reads_answers(viewer))
    return {
        **{k: getattr(ev, k) for k in (
            "id", "client_id", "case_id", "visit_id", "revisit_id", "respondent_id", "state",
            "short_code", "sha256", "size", "captured_at", "device_offset_s", "photographer",
            "place", "caption", "uploaded_by", "width", "height", "duration_s", "exif", "stored_at",
            "rejected_reason", "last_error")},
        "content_type": ev.content_type or ev.declared_type,
        "received_at": ev.declared_at,
        "geo": geo,
        "location": {"lat": located[0][0], "lon": located[0][1], "source": located[1]}
        if located else None,
        "exif_errors": ev.exif_errors or [],
        "flags": evidence_service.visible_flags(viewer, ev.flags),
        "thumbnails": {name: {**dims, "url": absolute(links[name])}
                       for name, dims in (ev.thumbnails or {}).items() if name in links},
        # Through the API, which records who downloads an original (and redirects).
        "download_url": absolute(url_for("evidence.original", evidence_id=ev.id))
        if offered else None,
        "links_expire_in": runtime.setting("DOWNLOAD_URL_TTL") if stored else None,
        "upload": {"method": upload.method, "url": absolute(upload.url),
                   "headers": upload.headers} if upload else None,
    }
