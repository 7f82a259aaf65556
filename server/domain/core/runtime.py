"""What services need from the running application: the session, storage, settings."""

from __future__ import annotations

from typing import Any

from flask import current_app

from server.storage import Storage


def storage() -> Storage:
    return current_app.extensions["fieldcase.storage"]


def setting(name: str) -> Any:
    return current_app.config[name]
