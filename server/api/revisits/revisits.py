"""Revisits over HTTP: questionnaire templates, revisits and their respondents, and the
samples of handled cases drawn for revisiting."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.views import MethodView

from server.api.blueprint import Blueprint
from server.api.revisits.schemas import (
    QuestionnaireInSchema,
    QuestionnaireListSchema,
    QuestionnaireQuerySchema,
    QuestionnaireSchema,
    RespondentAddedSchema,
    RespondentAddSchema,
    RevisitCreateSchema,
    RevisitDecisionInSchema,
    RevisitDecisionSchema,
    RevisitListSchema,
    RevisitSchema,
    RevisitTaskListSchema,
    SampleAssignSchema,
    SampleCreateSchema,
    SampleListSchema,
    SamplePreviewSchema,
    SampleSchema,
    SampleVoidSchema,
)
from server.api.security import current_user, load_user
from server.domain.accounts import roles
from server.domain.closure import revisit_review
from server.domain.core.privacy import mask_name, mask_phone
from server.domain.revisits import questionnaires, revisits, sampling
from server.extensions import db
from server.models import Questionnaire, Respondent, Revisit, RevisitSample, User

blp = Blueprint("revisits", __name__, url_prefix="/api",
                description="Revisits (回访): questionnaires, calls and door-to-door surveys, "
                            "and the samples drawn for phone spot checks.")
blp.before_request(load_user)
_REVISIT, _RESPONDENT = RevisitSchema(), RespondentAddedSchema()  # built once
_SAMPLE = SampleSchema()


def present_questionnaire(q: Questionnaire) -> dict[str, Any]:
    return {"code": q.code, "version": q.version, "title": q.title, "questions": q.questions,
            "created_at": q.created_at}


def present_respondent(r: Respondent, reads: bool = True) -> dict[str, Any]:
    """Names and contacts masked: the full ones stay in the database for the office. The
    answers only for those who may read them (roles.reads_answers)."""
    return {"id": r.id, "client_id": r.client_id, "revisit_id": r.revisit_id, "kind": r.kind,
            "name": mask_name(r.name), "contact": mask_phone(r.contact),
            "answers": r.answers if reads else {},
            "satisfaction": r.satisfaction, "audio_consent": r.audio_consent,
            "received_at": r.received_at}


def present_revisit(v: Revisit, names: dict[str, str], user: User) -> dict[str, Any]:
    q = v.questionnaire
    reads = roles.reads_answers(user)
    return {
        **{k: getattr(v, k) for k in (
            "id", "client_id", "case_id", "method", "at", "satisfaction", "stated_satisfaction",
            "outcome", "attempts", "unreachable_reason", "received_at", "callback_at")},
        "notes": v.notes if reads else "",
        "answers_hidden": not reads,
        "flags": v.flags or [],
        # The questions of the version asked, so a reader sees each answer under its
        # question's text, in their language, however the template changed since.
        "questionnaire": {"code": q.code, "version": q.version, "title": q.title,
                          "questions": q.questions} if q else None,
        "respondents": [present_respondent(r, reads) for r in v.respondents],
        "location": {"lat": v.lat, "lon": v.lon, "accuracy_m": v.accuracy_m}
        if v.lat is not None else None,
        "created_by": {"id": v.created_by, "name": names.get(v.created_by, "")},
    }


def _names(user_ids: set[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    return dict(db.session.execute(db.select(User.id, User.display_name)
                                   .where(User.id.in_(user_ids))).all())


# ---- questionnaires ------------------------------------------------------------------------
@blp.route("/questionnaires")
class Questionnaires(MethodView):
    @blp.response(200, QuestionnaireListSchema)
    def get(self):  # type: ignore[no-untyped-def]
        """The newest version of every questionnaire template."""
        return {"items": [present_questionnaire(q) for q in questionnaires.latest()]}

    @blp.arguments(QuestionnaireInSchema)
    @blp.response(201, QuestionnaireSchema)
    def post(self, data: dict):  # type: ignore[no-untyped-def]
        """Save a template (admin): a new code is version 1; an existing code gets its next
        version, and answers keep the version they were given under."""
        return present_questionnaire(questionnaires.save(
            current_user(), data["code"], data["title"], data["questions"]))


@blp.route("/questionnaires/<code>")
@blp.arguments(QuestionnaireQuerySchema, location="query")
@blp.response(200, QuestionnaireSchema)
def questionnaire(args: dict, code: str):  # type: ignore[no-untyped-def]
    """One template: the newest version, or `?version=`."""
    return present_questionnaire(questionnaires.get(code, args.get("version")))


# ---- revisits -------------------------------------------------------------------------------
@blp.route("/cases/<case_id>/revisits")
class CaseRevisits(MethodView):
    @blp.response(200, RevisitListSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """The case's revisits, oldest first."""
        user = current_user()
        items = revisits.list_for_case(user, case_id)
        names = _names({v.created_by for v in items})
        return {"items": [present_revisit(v, names, user) for v in items]}

    @blp.arguments(RevisitCreateSchema)
    @blp.response(201, RevisitSchema)
    @blp.alt_response(200, schema=RevisitSchema, description="A retry: the revisit recorded "
                      "first.")
    def post(self, data: dict, case_id: str):  # type: ignore[no-untyped-def]
        """Record a revisit (idempotent on client_id): a call with its answers, or attempts
        and why nobody was reached; a survey's first respondents. A dissatisfied one sends
        a handled case back for review."""
        user = current_user()
        revisit, created = revisits.record(user, case_id, data)
        response = jsonify(_REVISIT.dump(present_revisit(
            revisit, _names({revisit.created_by}), user)))
        response.status_code = 201 if created else 200
        return response


@blp.route("/revisits/<revisit_id>/respondents", methods=["POST"])
@blp.arguments(RespondentAddSchema)
@blp.response(201, RespondentAddedSchema)
@blp.alt_response(200, schema=RespondentAddedSchema, description="A retry: the respondent "
                  "recorded first.")
def add_respondent(data: dict, revisit_id: str):  # type: ignore[no-untyped-def]
    """One more respondent of a door-to-door survey (idempotent on their client_id)."""
    user = current_user()
    respondent, created = revisits.add_respondent(user, revisit_id, data)
    response = jsonify(_RESPONDENT.dump({
        **present_respondent(respondent, roles.reads_answers(user)),
        "revisit_satisfaction": respondent.revisit.satisfaction}))
    response.status_code = 201 if created else 200
    return response


@blp.route("/cases/<case_id>/revisit-decision", methods=["POST"])
@blp.arguments(RevisitDecisionInSchema)
@blp.response(201, RevisitDecisionSchema)
def revisit_decision(data: dict, case_id: str):  # type: ignore[no-untyped-def]
    """After a dissatisfied revisit, the office records why closing stands (timeline and
    audit): the closure checklist's revisit rule is then met, and whoever records this
    may not approve the case (`closure.own_decision`)."""
    return revisit_review.decide(current_user(), case_id, data["reason"])


# ---- samples ---------------------------------------------------------------------------------
def sample_summary(sample: RevisitSample) -> dict[str, Any]:
    return {**{k: getattr(sample, k) for k in (
        "id", "period_from", "period_to", "share", "strata", "seed", "population",
        "created_at", "voided_at", "void_reason")},
        "drawn": sum(a["drawn"] for a in sample.allocation)}


def present_sample(sample: RevisitSample) -> dict[str, Any]:
    rows = sampling.progress(sample)
    listed = sampling.seen_by(current_user(), sample, rows)
    return {
        **sample_summary(sample),
        "population_hash": sample.population_hash,
        "created_by": {"id": sample.created_by,
                       "name": _names({sample.created_by}).get(sample.created_by, "")},
        "strata_figures": sample.allocation,
        "figures": sampling.figures(rows),
        "by_unit": sampling.grouped(rows, "unit"),
        "by_channel": sampling.grouped(rows, "channel"),
        "cases": listed,
    }


@blp.route("/revisit-samples")
class Samples(MethodView):
    @blp.response(200, SampleListSchema)
    def get(self):  # type: ignore[no-untyped-def]
        """The newest samples (50) drawn over units the user sees."""
        return {"items": [sample_summary(s) for s in sampling.recent(current_user())]}

    @blp.arguments(SampleCreateSchema)
    @blp.response(201, SampleSchema)
    @blp.alt_response(200, schema=SampleSchema, description="The live sample drawn before "
                      "with the same seed and parameters (no case is tasked twice).")
    def post(self, data: dict):  # type: ignore[no-untyped-def]
        """Draw a sample of the handled cases received in [from, to): `share` of them,
        stratified (proportional, at least one per non-empty stratum), from `seed` (made
        and recorded when not given): the same seed over the same cases draws the same
        sample. Drawing again with the same seed and parameters returns the live sample
        drawn before."""
        sample, created = sampling.create(current_user(), **_draw_params(data))
        response = jsonify(_SAMPLE.dump(present_sample(sample)))
        response.status_code = 201 if created else 200
        return response


def _draw_params(data: dict) -> dict[str, Any]:
    return {"period_from": data["from_"], "period_to": data["to"], "share": data["share"],
            "strata": data["strata"], "seed": data.get("seed")}


@blp.route("/revisit-samples/preview", methods=["POST"])
@blp.arguments(SampleCreateSchema)
@blp.response(200, SamplePreviewSchema)
def preview_sample(data: dict):  # type: ignore[no-untyped-def]
    """What a draw with these parameters would take, written nowhere (no sample, no task,
    no audit entry)."""
    return sampling.preview(current_user(), **_draw_params(data))


@blp.route("/revisit-samples/<sample_id>/void", methods=["POST"])
@blp.arguments(SampleVoidSchema)
@blp.response(200, SampleSchema)
def void_sample(data: dict, sample_id: str):  # type: ignore[no-untyped-def]
    """Void a sample drawn wrongly, with a reason (audited): its tasks go with it; the
    sample stays on record, marked voided."""
    return present_sample(sampling.void(current_user(), sample_id, data["reason"]))


@blp.route("/revisit-tasks")
@blp.response(200, RevisitTaskListSchema)
def revisit_tasks():  # type: ignore[no-untyped-def]
    """My calls to make: calls I scheduled back (`kind` callback, soonest first), then the
    sampled cases assigned to me that no revisit has followed since their draw (`kind`
    sample; voided samples' go with them)."""
    return {"items": sampling.tasks(current_user())}


@blp.route("/revisit-samples/<sample_id>")
@blp.response(200, SampleSchema)
def get_sample(sample_id: str):  # type: ignore[no-untyped-def]
    """A sample's cases, who revisits each, how far it got, and its rates by unit and
    channel."""
    return present_sample(sampling.get(current_user(), sample_id))


@blp.route("/revisit-samples/<sample_id>/assign", methods=["POST"])
@blp.arguments(SampleAssignSchema)
@blp.response(200, SampleSchema)
def assign_sample(data: dict, sample_id: str):  # type: ignore[no-untyped-def]
    """Share the sample's unassigned cases among these revisit users, in turn."""
    return present_sample(sampling.assign(current_user(), sample_id, data["user_ids"]))
