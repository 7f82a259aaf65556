"""Stored bytes that no longer match their recorded hash, met while serving or archiving
them: a security event of its own (in its own transaction, so the refusal that follows
does not roll it back) and the refusal itself. Nothing altered goes out with a 200."""

from __future__ import annotations

from server.domain.audit import audit
from server.domain.core.errors import Conflict

CODE = "integrity.altered"
ZH = ("存储的文件与封存或登记时的哈希值不一致，可能已被改动：已停止提供并记录安全事件。"
      "请联系管理员核查。")
EN = ("The stored file no longer matches the hash recorded when it was filed or sealed: "
      "it was not served, and a security event was recorded. Ask an administrator.")


def refuse(what: str, entity_type: str, entity_id: str, *, actor_id: str | None,
           expected: str | None, actual: str, size: int | None = None) -> Conflict:
    """Record the event and answer the refusal to raise (409 integrity.altered)."""
    audit.record("security.tampering_detected", entity_type, entity_id, actor_id=actor_id,
                 data={"what": what, "expected_sha256": expected, "actual_sha256": actual,
                       "actual_size": size})
    return Conflict(CODE, EN, extra={"message": {"zh": ZH, "en": EN}, "what": what})
