"""Look-back campaigns (回头看, seed 001): closed cases chosen for a re-check, one task per
case, and the rectification plan (整改方案, annex 1) a rebound or a new problem calls for."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow

CAMPAIGN_STATES = ("open", "closed")
TASK_STATES = ("pending", "done")
PLAN_STATES = ("open", "accepted")
# A case is held by at most one pending task, whichever campaign it belongs to.
PENDING_WHERE = "status = 'pending'"


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(sa.String(200))
    # The creating office's unit: its scope sees every task of the campaign.
    unit_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("units.id"), index=True)
    # Closed cases RECEIVED in [period_from, period_to], local dates.
    period_from: Mapped[date] = mapped_column(sa.Date)
    period_to: Mapped[date] = mapped_column(sa.Date)
    filters: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # {channel?, category?, unit?}
    # A cross-check (交叉检查): every task goes to this unit instead of the handling one.
    check_unit_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("units.id"))
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    # Chosen cases left out: another campaign's pending task held them at creation.
    skipped_held: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (sa.CheckConstraint(f"status IN {CAMPAIGN_STATES!r}", name="status"),)


class RecheckTask(Base):
    __tablename__ = "recheck_tasks"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("campaigns.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("cases.id"), index=True)
    check_unit_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("units.id"),
                                               index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    rebound: Mapped[bool | None] = mapped_column(sa.Boolean)
    new_problem: Mapped[str | None] = mapped_column(sa.Text)
    findings: Mapped[str | None] = mapped_column(sa.Text)
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    # When the check was done (the phone's time, judged by phonetime) and received.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    visit_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("visits.id"))
    # Idempotency of the phone's outbox: a retry finds the first answer.
    client_id: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.CheckConstraint(f"status IN {TASK_STATES!r}", name="status"),
        # The progress table groups a campaign's tasks by unit and check time.
        sa.Index("ix_recheck_tasks_campaign", "campaign_id", "check_unit_id", "status"),
        # "Held by another campaign": one pending task per case, on both databases.
        sa.Index("ux_recheck_tasks_pending_case", "case_id", unique=True,
                 postgresql_where=sa.text(PENDING_WHERE), sqlite_where=sa.text(PENDING_WHERE)),
    )


class RectificationPlan(Base):
    """Seed 001 annex 1's row: what is done about a rebound or a new problem, by whom, by
    when, and who accepts it (验收)."""

    __tablename__ = "rectification_plans"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("cases.id"), index=True)
    task_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("recheck_tasks.id"), index=True)
    problem_type: Mapped[str] = mapped_column(sa.String(200))        # 问题类型
    original_problem: Mapped[str] = mapped_column(sa.Text)           # 原交办具体问题
    new_problem: Mapped[str | None] = mapped_column(sa.Text)         # 新发现问题
    measures: Mapped[str] = mapped_column(sa.Text)                   # 整改措施
    target: Mapped[str] = mapped_column(sa.Text)                     # 目标任务（标准）
    implementer: Mapped[str] = mapped_column(sa.String(300))         # 整改实施主体
    acceptance_unit_id: Mapped[str] = mapped_column(sa.String(36),   # 验收（监管）单位
                                                    sa.ForeignKey("units.id"))
    due_on: Mapped[date] = mapped_column(sa.Date)                    # 完成时限
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    acceptance_note: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint(f"status IN {PLAN_STATES!r}", name="status"),)
