"""X-Forwarded-* and X-Request-ID only from the reverse proxy itself.

Werkzeug's ProxyFix believes those headers from any peer; gunicorn's FORWARDED_ALLOW_IPS
does not guard X-Forwarded-For (gunicorn uses it for the scheme headers only). So anyone
who reaches gunicorn directly (another host on the network, a second listener) could name
any client address: pass /metrics' network check, dodge the per-address login limit, and
choose its request id. This middleware applies ProxyFix only when the peer (REMOTE_ADDR)
is in TRUSTED_PROXY_ADDRESSES; from any other peer those headers are dropped, so the app
sees the peer's own address and makes its own request id.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

WsgiApp = Callable[..., Iterable[bytes]]
# X-Forwarded-For/-Proto/-Host/-Port/-Prefix and the standard Forwarded: all a proxy's word.
_FORWARDED_PREFIXES = ("HTTP_X_FORWARDED_", "HTTP_FORWARDED")
_REQUEST_ID = "HTTP_X_REQUEST_ID"


class TrustedProxyFix:
    def __init__(self, app: WsgiApp, *, hops: int, networks: Iterable[str]) -> None:
        self.app = app
        self.proxied = ProxyFix(app, x_for=hops, x_proto=hops, x_host=hops)
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def trusted(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address((peer or "").split("%")[0])
        except ValueError:  # a unix socket's peer, or none: not a known proxy
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped  # a dual-stack listener's view of an IPv4 peer
        return any(address in network for network in self.networks)

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.trusted(environ.get("REMOTE_ADDR")):
            return self.proxied(environ, start_response)
        for key in [k for k in environ if k.startswith(_FORWARDED_PREFIXES)]:
            del environ[key]
        environ.pop(_REQUEST_ID, None)
        return self.app(environ, start_response)
