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


@bp.route("/<path:path>")
def asset(path: str) -> Response:
    if path.startswith("api/") or path.startswith("tests/"):
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
