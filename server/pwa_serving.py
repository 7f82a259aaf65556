"""Serves the installable web app from pwa/ at the site root."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"

bp = Blueprint("pwa", __name__)


@bp.route("/")
def index() -> Response:
    return _send("index.html")


@bp.route("/<path:path>")
def asset(path: str) -> Response:
    return _send(path)


def _send(path: str) -> Response:
    response = send_from_directory(PWA_DIR, path, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if path in ("index.html", "sw.js"):
        response.headers["Cache-Control"] = "no-cache"
    return response
