"""SQLAlchemy models, one module per aggregate. Models never commit; services do."""

from server.models.audit import AuditCheckpoint, AuditEntry
from server.models.base import Base
from server.models.campaign import Campaign, RecheckTask, RectificationPlan
from server.models.case import Case, CaseUnit, case_assignees
from server.models.deadline import CalendarDay, CalendarYear, DeadlineRule
from server.models.evidence import Evidence
from server.models.hardcase import GroupMember, RemediationPlan
from server.models.intake import ImportBatch, IntakeSource, IntakeToken
from server.models.job import JOB_STATES, Job
from server.models.notification import Notification, Webhook, WebhookDelivery
from server.models.periodic import PeriodicRun
from server.models.repeat import RepeatLink, RepeatSubject
from server.models.revisit import Questionnaire, Respondent, Revisit, RevisitSample, SampleCase
from server.models.seal import ClosureFile, Seal
from server.models.timeline import CaseEvent
from server.models.unit import Unit, user_units
from server.models.user import ROLES, LoginThrottle, User, UserSession
from server.models.visit import Measurement, Visit

__all__ = [
    "JOB_STATES",
    "ROLES",
    "AuditCheckpoint",
    "AuditEntry",
    "Base",
    "CalendarDay",
    "CalendarYear",
    "Campaign",
    "Case",
    "CaseEvent",
    "CaseUnit",
    "ClosureFile",
    "DeadlineRule",
    "Evidence",
    "GroupMember",
    "ImportBatch",
    "IntakeSource",
    "IntakeToken",
    "Job",
    "LoginThrottle",
    "Measurement",
    "Notification",
    "PeriodicRun",
    "Questionnaire",
    "RecheckTask",
    "RectificationPlan",
    "RemediationPlan",
    "RepeatLink",
    "RepeatSubject",
    "Respondent",
    "Revisit",
    "RevisitSample",
    "SampleCase",
    "Seal",
    "Unit",
    "User",
    "UserSession",
    "Visit",
    "Webhook",
    "WebhookDelivery",
    "case_assignees",
    "user_units",
]
