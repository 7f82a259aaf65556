"""Headers on every answer: a Content-Security-Policy for the app (its scripts and styles
from its own origin only, no inline script), no framing, a referrer policy, and no caching
of API answers, which carry personal data and the CSRF token."""

from __future__ import annotations

from flask import Flask, Response, request


def content_security_policy(store_origins: list[str]) -> str:
    stores = " ".join(store_origins)
    return "; ".join(part.strip() for part in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Basemap tiles come from the configured tile host (https), photos from the store.
        f"img-src 'self' data: blob: https: {stores}",
        f"connect-src 'self' {stores}",
        f"media-src 'self' blob: {stores}",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def register_headers(app: Flask) -> None:
    csp = content_security_policy(app.extensions["fieldcase.storage"].browser_origins())

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)  # a route's own stays (blobs)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        # OpenStreetMap asks for a referrer on tile requests: the origin only, cross-site.
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.path.startswith("/api/") and "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"
        return response
