"""Hard cases (seed 000): a hard case's remediation plan (整治方案) and its leader group
(包案小组). The office's "difficult" flag (重点疑难) lives on the case itself."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow

PLAN_STATUSES = ("open", "done")
GROUP_ROLES = ("lead", "member")


class RemediationPlan(Base):
    """One plan a case, changed in place; each version is on the case's timeline (and in
    the audit log) with everything it said, so the history is never lost."""

    __tablename__ = "remediation_plans"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(sa.String(36),
                                         sa.ForeignKey("cases.id", ondelete="CASCADE"),
                                         unique=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    approach: Mapped[str] = mapped_column(sa.Text)  # 解决办法
    # 责任人员: users (ids, in the order given) and people named in words (another bureau's).
    responsible_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    responsible_text: Mapped[str] = mapped_column(sa.Text, default="")
    deadline: Mapped[date] = mapped_column(sa.Date)  # 完成时限, a local date
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    closing_note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint(f"status IN {PLAN_STATUSES!r}", name="status"),)


class GroupMember(Base):
    """A member of a case's leader group besides its lead: the lead is the case's leader in
    charge (Case.leader_id), one truth, never copied here."""

    __tablename__ = "case_group_members"

    case_id: Mapped[str] = mapped_column(sa.String(36),
                                         sa.ForeignKey("cases.id", ondelete="CASCADE"),
                                         primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"),
                                         primary_key=True, index=True)
    added_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
