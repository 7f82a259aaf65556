"""GET /metrics (outside /api: not in the OpenAPI document, not in the app's shell), and
the request hooks that time every request and count the evidence intake steps.

Who may scrape: an address in METRICS_ALLOWED_NETWORKS (request.remote_addr, i.e. after
ProxyFix when TRUSTED_PROXY_HOPS is set: the client behind the proxy, not the proxy), or
anyone with `Authorization: Bearer <METRICS_TOKEN>`. Anyone else: 403 problem+json, not
recorded in the audit log (a scraper misconfigured would fill it every 15 seconds).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from functools import cache

from flask import Blueprint, Flask, Response, current_app, g, request, request_started

from server.api.problems import problem
from server.observability import metrics

bp = Blueprint("metrics", __name__)

# The intake steps, by endpoint (the blueprint's name and the view's).
INTAKE_STAGES = {"evidence.declare": "declare", "blobs.put_blob": "upload",
                 "evidence.complete": "complete"}


@cache
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                                  ...]:
    return tuple(ipaddress.ip_network(n) for n in allowed)


def _address_allowed(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket is 127.0.0.1
    return any(ip in net for net in _networks(tuple(current_app.config[
        "METRICS_ALLOWED_NETWORKS"])))


def _token_given() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@bp.get("/metrics")
def scrape() -> Response:
    if not (_address_allowed(request.remote_addr) or _token_given()):
        return problem(403, "metrics.forbidden", "Metrics are not served to this address.",
                       "Scrape from an address in METRICS_ALLOWED_NETWORKS or send "
                       "METRICS_TOKEN as a bearer token.")
    response = Response(metrics.render(), mimetype=None, content_type=metrics.CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


def _started(sender: Flask, **_extra: object) -> None:
    g.metrics_started = time.perf_counter()


def _finished(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    rule = request.url_rule
    if started is not None:
        metrics.observe_request(rule.rule if rule is not None else "unmatched",
                                request.method, response.status_code,
                                time.perf_counter() - started)
    stage = INTAKE_STAGES.get(request.endpoint or "")
    if stage is not None and request.method != "OPTIONS":
        code = None
        if response.status_code >= 400 and response.is_json:
            body = response.get_json(silent=True)
            code = body.get("code") if isinstance(body, dict) else None
        metrics.count_intake(stage, response.status_code, code)
    return response


def register_metrics(app: Flask) -> None:
    metrics.init_app(app)
    app.register_blueprint(bp)
    # request_started comes before every before_request function, so a request that one
    # of them answers (a NUL in the path, a body too large) is timed too.
    request_started.connect(_started, app)
    app.after_request(_finished)
