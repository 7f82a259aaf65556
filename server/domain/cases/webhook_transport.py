"""Where a webhook may post, and the posting itself: public addresses only, checked when a
webhook is added and again, resolved, when each message goes out; the connection dials
the address that was checked (a DNS answer that changes in between cannot move it), with
the Host header, SNI and certificate check for the URL's name, no redirect, no proxy, and
a bound on the whole exchange."""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
from functools import cache
from urllib.parse import SplitResult, quote, urlsplit

import certifi

from server.domain.core.errors import Invalid
from server.domain.core.runtime import setting

# Cloud metadata services by name: never a receiver, whatever the networks allowed.
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.internal"})
# What inet_aton reads as an IPv4 address: 2130706433, 0x7f000001, 127.1, 0177.0.0.1.
_IPV4_NUMBERS = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_URL_SAFE = "/%:@!$&'()*+,;=~-._"  # what a path keeps as it is (others are %-escaped)


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names by itself, in any notation a resolver accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _IPV4_NUMBERS.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _decisive(ip: ipaddress.IPv4Address | ipaddress.IPv6Address
              ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, NAT64) decides."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # NAT64, IPv4-compatible
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


@cache
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                                ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Not a public address (loopback, private, link-local, multicast, reserved,
    unspecified, shared 100.64/10, ...), and not in a network the operator allowed."""
    ip = _decisive(ip)
    allowed = setting("WEBHOOK_ALLOWED_NETWORKS")
    if isinstance(allowed, str):  # set as the environment spells it
        allowed = [c.strip() for c in allowed.split(",") if c.strip()]
    if any(ip in net for net in _networks(tuple(allowed))):
        return False
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local
            or ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _bad_url(reason: str) -> Invalid:
    return Invalid("webhook.bad_url", f"This webhook URL is refused: {reason}",
                   errors={"url": [reason]})


def check_url(url: str) -> SplitResult:
    """What a webhook URL must be, when it is added and again when it is posted to."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("webhook.bad_url", "A webhook URL must be http(s) with a host.",
                      errors={"url": ["Must start with http:// or https://."]})
    if "@" in parts.netloc:
        raise _bad_url("it must not carry a user name or password.")
    try:
        parts.port  # noqa: B018  (raises on a port out of range)
    except ValueError as exc:
        raise _bad_url("its port is not a port number.") from exc
    if parts.scheme == "http" and not setting("WEBHOOK_ALLOW_HTTP"):
        raise _bad_url("it must use https.")
    host = parts.hostname.rstrip(".").lower()
    if host in METADATA_NAMES:
        raise _bad_url("it names a cloud metadata service.")
    ip = _literal_ip(host)
    if host == "localhost" or host.endswith(".localhost"):
        ip = ipaddress.ip_address("127.0.0.1")  # loopback by definition (RFC 6761)
    if ip is not None and refused(ip):
        raise _bad_url("it points to an internal address.")
    return parts


def resolve(host: str, port: int) -> list[str]:
    """The addresses to dial, resolved now; OSError if any of them is refused (a name that
    also answers with an internal address is not posted to at all)."""
    found = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for address in found:
        if refused(ipaddress.ip_address(address.split("%", 1)[0])):
            raise OSError(f"address refused: {address}")
    if not found:
        raise OSError("no address")
    return list(dict.fromkeys(found))


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


class _Pinned(http.client.HTTPConnection):
    """Dials the address that was checked; the Host header is the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(_Pinned):
    """As _Pinned, with the certificate verified for the URL's host (and SNI sent)."""

    default_port = 443

    def connect(self) -> None:
        super().connect()
        self.sock = _tls().wrap_socket(self.sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST once, to a checked address, following no redirect; the status. At most about
    `timeout` for the whole exchange: a receiver that trickles its answer is cut off."""
    parts = check_url(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = quote(parts.path or "/", safe=_URL_SAFE) + (
        f"?{quote(parts.query, safe=_URL_SAFE + '?/')}" if parts.query else "")
    last: Exception = OSError("no address")
    for address in resolve(host, port):
        kind = _PinnedTLS if parts.scheme == "https" else _Pinned
        conn = kind(host, port, address, timeout)
        fired = threading.Event()
        cut = threading.Timer(timeout, _cut, (conn, fired))
        cut.daemon = True  # never keeps a finished `fieldcase sweep` from exiting
        cut.start()
        try:
            conn.request("POST", path, body=body, headers=headers)
            return conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            if fired.is_set():
                raise TimeoutError(f"no answer within {timeout:g} s") from exc
            if not isinstance(exc, ConnectionRefusedError):
                raise
            last = exc  # the next address, as a resolver's client would
        finally:
            cut.cancel()
            conn.close()
    raise last


def _cut(conn: http.client.HTTPConnection, fired: threading.Event) -> None:
    fired.set()
    try:
        if conn.sock is not None:
            conn.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
