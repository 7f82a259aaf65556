"""Masking of personal data (PIPL; Regulations on Letters and Visits art. 30, 46)."""

from __future__ import annotations

import re


def mask_phone(phone: str | None) -> str | None:
    """138****1234 for mobiles; other numbers keep their last four digits only."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_name(name: str | None) -> str | None:
    """张** : the family name stays so a caller can address the person politely."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)
