"""Short codes printed under each photo's QR code (XXXX-XXXX, Crockford base32: no I, L,
O or U, so a code read off paper is not mistyped). 40 random bits: guessing one of a
district's codes is hopeless, and the public answer says nothing personal anyway."""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SHAPE = re.compile(f"^[{ALPHABET}]{{8}}$")


def new_code() -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalise(code: str) -> str | None:
    """The stored form of what someone typed or scanned, or None if it cannot be one."""
    chars = re.sub(r"[\s-]", "", code or "").upper().translate(_READ_AS)
    if not _SHAPE.match(chars):
        return None
    return f"{chars[:4]}-{chars[4:]}"
