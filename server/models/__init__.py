"""SQLAlchemy models, one module per aggregate. Models never commit; services do."""

from server.models.audit import AuditEntry
from server.models.base import Base
from server.models.case import Case
from server.models.evidence import Evidence
from server.models.unit import Unit, user_units
from server.models.user import ROLES, User, UserSession
from server.models.visit import Measurement, Visit

__all__ = [
    "ROLES",
    "AuditEntry",
    "Base",
    "Case",
    "Evidence",
    "Measurement",
    "Unit",
    "User",
    "UserSession",
    "Visit",
    "user_units",
]
