"""the case's clock: last contact, provisional deadlines, colour order, owed milestones

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 02:40:00

- `user_sessions.offline_since`: a session's last use before its latest pause, the
  phone's last contact: an action it queued offline counts as done no earlier.
- `cases.deadline_provisional`: a deadline counted with weekends only because a year it
  reaches has no calendar loaded; recomputed when the year is loaded.
- The shipped rules get a version 2 (frozen here): 1+3+5+7's colours in the one order
  (green < blue < yellow < red, server.domain.core.vocab.COLOUR_ORDER) and petition-60
  moving a due date off a rest day (Civil Code art. 203). A rule an admin has already
  versioned is left to its admin (their next save is checked against the order).
- An open case's `next_milestone_at` goes back to its first milestone not yet raised, so
  the next sweep raises, as late, what a case entered late never had raised.
"""
import json
import uuid
from datetime import datetime, timezone

from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

RULES_V2 = json.loads(r"""
[
  {
    "code": "1+3+5+7",
    "title": {"zh": "1小时交办、第3天催办、第5天初审、第7天办结", "en": "Dispatch within 1 hour, remind on day 3, preliminary review on day 5, closed by the end of day 7"},
    "source": "Seed 004 (Dazhou) wall chart: stickers on days 5, 6 and 7 (there yellow, blue, red; here in the one colour order green < blue < yellow < red)",
    "channels": ["inspection_batch", "hotline_12345", "hotline_12369", "phone", "online",
                 "media_monitoring"],
    "key": null,
    "priority": 100,
    "counting": "calendar_days",
    "due": 7,
    "rest_day_rollover": false,
    "milestones": [
      {"name": "dispatch", "hours": 1, "until": "dispatched"},
      {"name": "reminder", "day": 3},
      {"name": "preliminary_review", "day": 5}
    ],
    "colours": [
      {"from_day": 1, "colour": "green"},
      {"from_day": 5, "colour": "blue"},
      {"from_day": 6, "colour": "yellow"},
      {"from_day": 7, "colour": "red"}
    ],
    "restart_on_transfer": false,
    "max_extension": 7
  },
  {
    "code": "petition-60",
    "title": {"zh": "信访事项60日内办结，可延长30日", "en": "Handled within 60 days of acceptance, extendable by 30 with a reason"},
    "source": "Regulations on Letters and Visits (2022), articles 32-33",
    "channels": ["letter", "visit"],
    "key": null,
    "priority": 100,
    "counting": "calendar_days",
    "due": 60,
    "rest_day_rollover": true,
    "milestones": [
      {"name": "dispatch", "hours": 24, "until": "dispatched"},
      {"name": "notify_petitioner", "day": 15},
      {"name": "reminder", "day": 45}
    ],
    "colours": [
      {"from_day": 1, "colour": "green"},
      {"from_day": 31, "colour": "blue"},
      {"from_day": 46, "colour": "yellow"},
      {"from_day": 56, "colour": "red"}
    ],
    "restart_on_transfer": true,
    "max_extension": 30
  }
]
""")
@contextmanager
def _foreign_keys_off():
    """SQLite alters a table by rebuilding it; with foreign keys enforced, dropping the old
    table would delete (ON DELETE CASCADE) or refuse for every row that refers to it."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if sqlite:
            op.execute("PRAGMA foreign_keys=ON")


OPEN = ("received", "dispatched", "in_progress", "submitted")


def upgrade():
    with _foreign_keys_off():
        with op.batch_alter_table("cases") as batch:
            batch.add_column(sa.Column("deadline_provisional", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
            batch.create_index(batch.f("ix_cases_deadline_provisional"), ["deadline_provisional"])
        with op.batch_alter_table("user_sessions") as batch:
            batch.add_column(sa.Column("offline_since", sa.DateTime(timezone=True)))
        conn = op.get_bind()
        _rules_v2(conn)
        _owed_milestones(conn)


def _rules_v2(conn):
    rules = sa.table("deadline_rules", sa.column("id"), sa.column("code"), sa.column("version"),
                     sa.column("body", sa.JSON),
                     sa.column("created_at", sa.DateTime(timezone=True)),
                     sa.column("created_by"))
    now = datetime.now(timezone.utc)
    for body in RULES_V2:
        latest = conn.execute(sa.select(sa.func.max(rules.c.version))
                              .where(rules.c.code == body["code"])).scalar()
        if latest == 1:  # as shipped: nobody has changed it
            conn.execute(rules.insert().values(id=str(uuid.uuid4()), code=body["code"],
                                               version=2, body=body, created_at=now,
                                               created_by=None))


def _owed_milestones(conn):
    cases = sa.table("cases", sa.column("id"), sa.column("status"),
                     sa.column("milestones", sa.JSON),
                     sa.column("next_milestone_at", sa.DateTime(timezone=True)))
    notes = sa.table("notifications", sa.column("case_id"), sa.column("dedupe_key"))
    rows = conn.execute(sa.select(cases.c.id, cases.c.milestones)
                        .where(cases.c.status.in_(OPEN), cases.c.milestones.is_not(None)))
    for case_id, milestones in rows.all():
        if isinstance(milestones, str):
            milestones = json.loads(milestones)
        raised = set(conn.execute(sa.select(notes.c.dedupe_key)
                                  .where(notes.c.case_id == case_id)).scalars())
        owed = [datetime.fromisoformat(m["at"]) for m in milestones or []
                if f"{case_id}:{m['name']}:{m['at']}" not in raised]
        if owed:
            conn.execute(cases.update().where(cases.c.id == case_id)
                         .values(next_milestone_at=min(owed)))


def downgrade():
    with _foreign_keys_off():
        with op.batch_alter_table("user_sessions") as batch:
            batch.drop_column("offline_since")
        with op.batch_alter_table("cases") as batch:
            batch.drop_index(batch.f("ix_cases_deadline_provisional"))
            batch.drop_column("deadline_provisional")
        rules = sa.table("deadline_rules", sa.column("code"), sa.column("version"),
                         sa.column("created_by"))
        op.execute(rules.delete().where(rules.c.version == 2, rules.c.created_by.is_(None),
                                        rules.c.code.in_([r["code"] for r in RULES_V2])))
