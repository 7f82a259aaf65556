"""Who may do what, by role: the one place the role sets live."""

from __future__ import annotations

from collections.abc import Collection

from server.domain.errors import Forbidden
from server.models import User

# Work in the field: record visits, file photos and complete their upload.
FIELD_ROLES = ("inspector", "reviewer", "admin")
# The office: create and edit cases.
OFFICE_ROLES = ("reviewer", "admin")
# Who may change the rules: deadline rules, the working-day calendar, webhooks.
ADMIN_ROLES = ("admin",)
# Who may see a complainant's contact (to call them back), with a logged reason.
REVEAL_ROLES = ("revisit", "reviewer", "admin")
# Who records revisits (calls, door-to-door surveys) and files their photos and recordings.
REVISIT_ROLES = ("revisit", "reviewer", "admin")
# Who files evidence: the field, and revisit teams (for their revisits only).
EVIDENCE_ROLES = ("inspector", "revisit", "reviewer", "admin")


def require_role(user: User, roles: Collection[str], code: str, message: str) -> None:
    if user.role not in roles:
        raise Forbidden(code, message)
