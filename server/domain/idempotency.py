"""Fingerprints of retried requests: the same client UUID must carry the same body."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def fingerprint(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_default,
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
