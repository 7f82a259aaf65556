"""revisits: questionnaire templates (two defaults), revisits, respondents, samples;
evidence of a revisit (photos, interview recordings)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:20:00

"""
import uuid
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SATISFACTION = [
    {"value": "satisfied", "label": {"zh": "满意", "en": "Satisfied"}},
    {"value": "basically_satisfied", "label": {"zh": "基本满意", "en": "Basically satisfied"}},
    {"value": "dissatisfied", "label": {"zh": "不满意", "en": "Dissatisfied"}},
]

# Version 1 of the two templates shipped; admins add versions through the API.
DEFAULT_QUESTIONNAIRES = [
    {"code": "phone-revisit",
     "title": {"zh": "电话回访话术", "en": "Phone revisit script"},
     "questions": [
         {"key": "resolved", "kind": "yesno", "required": True,
          "label": {"zh": "您反映的问题现在解决了吗？",
                    "en": "Has the problem you reported been solved?"}},
         {"key": "contacted", "kind": "yesno", "required": True,
          "label": {"zh": "办理人员是否与您联系或到现场核查？",
                    "en": "Did the handling staff contact you or check the site?"}},
         {"key": "satisfaction", "kind": "single", "required": True, "satisfaction": True,
          "label": {"zh": "您对办理结果满意吗？", "en": "Are you satisfied with the result?"},
          "options": _SATISFACTION},
         {"key": "comments", "kind": "text", "required": False,
          "label": {"zh": "不满意的原因或其他意见", "en": "Why not, or other comments"}},
     ]},
    {"code": "residents-survey",
     "title": {"zh": "周边居民满意度调查问卷", "en": "Neighbourhood residents' survey"},
     "questions": [
         {"key": "distance", "kind": "single", "required": True,
          "label": {"zh": "您的住所或单位距该场所多远？",
                    "en": "How far from the site do you live or work?"},
          "options": [
              {"value": "within_50m", "label": {"zh": "50米以内", "en": "Within 50 m"}},
              {"value": "50_200m", "label": {"zh": "50至200米", "en": "50 to 200 m"}},
              {"value": "over_200m", "label": {"zh": "200米以外", "en": "Over 200 m"}}]},
         {"key": "affected", "kind": "single", "required": True,
          "label": {"zh": "整改后您是否仍受该场所影响？",
                    "en": "Since the rectification, are you still affected by the site?"},
          "options": [
              {"value": "often", "label": {"zh": "经常", "en": "Often"}},
              {"value": "sometimes", "label": {"zh": "偶尔", "en": "Sometimes"}},
              {"value": "never", "label": {"zh": "没有", "en": "Never"}}]},
         {"key": "improvement", "kind": "scale", "required": True, "min": 1, "max": 5,
          "label": {"zh": "与整改前相比改善程度（1 没有变化，5 完全消除）",
                    "en": "Improvement since the rectification (1 none, 5 fully solved)"}},
         {"key": "when", "kind": "multi", "required": False,
          "label": {"zh": "影响主要出现在哪些时段？", "en": "When does it mostly happen?"},
          "options": [
              {"value": "morning", "label": {"zh": "早上", "en": "Morning"}},
              {"value": "daytime", "label": {"zh": "白天", "en": "Daytime"}},
              {"value": "evening", "label": {"zh": "傍晚", "en": "Evening"}},
              {"value": "late_night", "label": {"zh": "夜间22点后", "en": "After 22:00"}}]},
         {"key": "satisfaction", "kind": "single", "required": True, "satisfaction": True,
          "label": {"zh": "您对该问题的整改结果满意吗？",
                    "en": "Are you satisfied with how the problem was rectified?"},
          "options": _SATISFACTION},
         {"key": "comments", "kind": "text", "required": False,
          "label": {"zh": "其他意见和建议", "en": "Other comments"}},
     ]},
]


def upgrade():
    questionnaires = op.create_table(
        "questionnaires",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_questionnaires_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaires")),
        sa.UniqueConstraint("code", "version", name="uq_questionnaires_code_version"),
    )
    op.create_table(
        "revisits",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("questionnaire_id", sa.String(36), nullable=True),
        sa.Column("stated_satisfaction", sa.String(24), nullable=True),
        sa.Column("satisfaction", sa.String(24), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("unreachable_reason", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_offset_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_revisits_case_id_cases")),
        sa.ForeignKeyConstraint(["questionnaire_id"], ["questionnaires.id"],
                                name=op.f("fk_revisits_questionnaire_id_questionnaires")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_revisits_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisits")),
        sa.UniqueConstraint("client_id", name=op.f("uq_revisits_client_id")),
    )
    op.create_index(op.f("ix_revisits_case_id"), "revisits", ["case_id"])
    op.create_index(op.f("ix_revisits_satisfaction"), "revisits", ["satisfaction"])
    op.create_table(
        "revisit_respondents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("revisit_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(120), nullable=True),
        sa.Column("contact", sa.String(120), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("satisfaction", sa.String(24), nullable=True),
        sa.Column("audio_consent", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["revisit_id"], ["revisits.id"],
                                name=op.f("fk_revisit_respondents_revisit_id_revisits")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_revisit_respondents_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisit_respondents")),
        sa.UniqueConstraint("client_id", name=op.f("uq_revisit_respondents_client_id")),
    )
    op.create_index(op.f("ix_revisit_respondents_revisit_id"), "revisit_respondents",
                    ["revisit_id"])
    op.create_table(
        "revisit_samples",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("period_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.Column("seed", sa.String(40), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("population_hash", sa.String(64), nullable=False),
        sa.Column("allocation", sa.JSON(), nullable=False),
        sa.Column("unit_scope", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_revisit_samples_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisit_samples")),
    )
    op.create_table(
        "revisit_sample_cases",
        sa.Column("sample_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("stratum", sa.String(200), nullable=False),
        sa.Column("assignee_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(["sample_id"], ["revisit_samples.id"], ondelete="CASCADE",
                                name=op.f("fk_revisit_sample_cases_sample_id_revisit_samples")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_revisit_sample_cases_case_id_cases")),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"],
                                name=op.f("fk_revisit_sample_cases_assignee_id_users")),
        sa.PrimaryKeyConstraint("sample_id", "case_id", name=op.f("pk_revisit_sample_cases")),
    )
    op.create_index(op.f("ix_revisit_sample_cases_case_id"), "revisit_sample_cases",
                    ["case_id"])
    op.create_index(op.f("ix_revisit_sample_cases_assignee_id"), "revisit_sample_cases",
                    ["assignee_id"])

    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")  # the table may be rebuilt for its new keys
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("revisit_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("respondent_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
        batch.create_foreign_key(op.f("fk_evidence_revisit_id_revisits"), "revisits",
                                 ["revisit_id"], ["id"])
        batch.create_foreign_key(op.f("fk_evidence_respondent_id_revisit_respondents"),
                                 "revisit_respondents", ["respondent_id"], ["id"])
        batch.create_index(op.f("ix_evidence_revisit_id"), ["revisit_id"])
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")

    now = datetime.now(UTC)
    op.bulk_insert(questionnaires, [
        {"id": str(uuid.uuid4()), "code": q["code"], "version": 1,
         "title": q["title"], "questions": q["questions"],
         "created_by": None, "created_at": now.replace(tzinfo=None) if sqlite else now}
        for q in DEFAULT_QUESTIONNAIRES])


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_index(op.f("ix_evidence_revisit_id"))
        batch.drop_constraint(op.f("fk_evidence_respondent_id_revisit_respondents"),
                              type_="foreignkey")
        batch.drop_constraint(op.f("fk_evidence_revisit_id_revisits"), type_="foreignkey")
        batch.drop_column("duration_s")
        batch.drop_column("respondent_id")
        batch.drop_column("revisit_id")
    if sqlite:
        op.execute("PRAGMA foreign_keys=ON")
    op.drop_table("revisit_sample_cases")
    op.drop_table("revisit_samples")
    op.drop_table("revisit_respondents")
    op.drop_table("revisits")
    op.drop_table("questionnaires")
