"""audit: the records nobody may rewrite.

Owns the hash-chained audit log, its signed checkpoints, and each case's timeline (the
per-case chain of events that status, deadlines and seals are derived from or enter).

May use: core.
"""

from server.domain.audit import audit_checkpoints  # noqa: F401  (its objects: core.named_objects)
