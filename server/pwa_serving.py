"""Serves the installable web app from pwa/ at the site root."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
NO_CACHE = {"index.html", "sw.js", "manifest.webmanifest"}

bp = Blueprint("pwa", __name__)


@cache
def build_id() -> str:
    """A hash of the app's files: a new build gets a new service-worker cache."""
    digest = hashlib.sha256()
    for path in sorted(PWA_DIR.rglob("*")):
        if path.is_file() and "tests" not in path.parts:
            digest.update(path.relative_to(PWA_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@bp.route("/")
def index() -> Response:
    return _send("index.html")


@bp.route("/sw.js")
def service_worker() -> Response:
    text = (PWA_DIR / "sw.js").read_text(encoding="utf-8").replace("__BUILD__", build_id())
    response = Response(text, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


# What the app is: these files at the top and what lies in these folders, nothing else
# (not its tests, not a path that only reaches them through "." or "..").
SHELL_FILES = {"index.html", "manifest.webmanifest"}
SHELL_DIRS = {"css", "js", "icons", "vendor"}


def servable(path: str) -> bool:
    parts = path.split("/")
    if any(part in ("", ".", "..") or "\\" in part for part in parts):
        return False
    return path in SHELL_FILES if len(parts) == 1 else parts[0] in SHELL_DIRS


@bp.route("/<path:path>")
def asset(path: str) -> Response:
    if not servable(path):
        abort(404)
    return _send(path)


def _send(path: str) -> Response:
    response = send_from_directory(PWA_DIR, path, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if path in NO_CACHE:
        response.headers["Cache-Control"] = "no-cache"
    if path.endswith(".webmanifest"):
        response.mimetype = "application/manifest+json"
    return response
