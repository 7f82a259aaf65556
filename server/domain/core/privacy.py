"""Masking of personal data (PIPL; Regulations on Letters and Visits art. 30, 46)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from server.domain.core import runtime


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


# ---- finding a case by the caller's number without keeping it searchable in clear -------
_PHONE_CONTEXT = b"fieldcase complainant phone:"


def normalise_phone(phone: str | None) -> str | None:
    """The digits a person means, however typed: full-width digits (NFKC), spaces, dashes
    and brackets dropped, and China's country code (+86, 0086) taken off a mobile or a
    landline with its area code. None when no digit is left."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone))
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) >= 12:
        digits = digits[2:]
    return digits or None


def personal_key() -> bytes:
    """PERSONAL_DATA_KEY: configured, or kept in the instance folder, never in the database."""
    return bytes.fromhex(runtime.setting("PERSONAL_DATA_KEY"))


def phone_digest(phone: str | None, key: bytes | None = None) -> str | None:
    """HMAC-SHA256 of the normalised number under the personal-data key (kept outside the
    database): stored beside a case so an exact number finds it, while the column alone
    cannot be searched by guessing numbers the way a plain hash of 11 digits can."""
    digits = normalise_phone(phone)
    if digits is None:
        return None
    mac = hmac.new(key or personal_key(), _PHONE_CONTEXT + digits.encode(), hashlib.sha256)
    return mac.hexdigest()
