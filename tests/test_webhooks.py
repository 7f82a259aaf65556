"""Webhooks (issue 16): a webhook belongs to a unit and is sent only what that unit may see;
no internal address is posted to, in any notation, at add time or when a name resolves to
one; no redirect is followed; the secret is made by the server and stored sealed; slow
receivers do not hold up the sweep. Every receiver here is on loopback: no test sends
anything anywhere else (a guard fails the test first)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from server.config import ConfigError, load_config
from server.domain.cases import sweep, webhook_transport, webhooks
from server.domain.core.errors import Invalid
from server.extensions import db
from server.models import CaseUnit, Webhook, WebhookDelivery
from tests.conftest import unit_id
from tests.test_sweep_board import Receiver, add_hook, caught_up

H, D = timedelta(hours=1), timedelta(days=1)
LOOPBACK = ("127.0.0.0/8",)

# The list, and more notations of the same places.
REFUSED_URLS = [
    "http://127.0.0.1/hook", "http://localhost/hook", "http://0.0.0.0/hook",
    "http://2130706433/hook", "http://0x7f000001/hook", "http://127.1/hook",
    "http://[::1]/hook", "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "https://user:pass@hooks.example.org/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://10.0.0.1/hook", "http://0177.0.0.1/hook",
    "https://user@hooks.example.org/hook", "http://LOCALHOST./hook",
    "http://api.localhost/hook", "http://100.64.0.1/hook", "http://192.168.1.1/hook",
    "http://172.16.0.1/hook", "http://[fe80::1]/hook", "http://[fc00::1]/hook",
    "http://224.0.0.1/hook", "http://240.0.0.1/hook", "http://[::]/hook",
    "http://[::ffff:7f00:1]/hook", "http://[::127.0.0.1]/hook",
    "http://[2002:7f00:1::]/hook", "http://[64:ff9b::a00:1]/hook", "http://0x7f.1/hook",
    "ftp://hooks.example.org/hook", "http://hooks.example.org:99999/hook",
]


def ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat()


@pytest.fixture()
def bare() -> Iterator[Flask]:
    """Only the settings (no database): for the address rules."""
    app = Flask(__name__)
    app.config.update(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_ALLOWED_NETWORKS=(),
                      WEBHOOK_TIMEOUT_S=2.0, WEBHOOK_SECRET_KEY="ab" * 32)
    with app.app_context():
        yield app


@pytest.fixture()
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection elsewhere than loopback fails the test before a packet leaves."""
    real = socket.create_connection

    def guard(address: tuple, *args: Any, **kw: Any) -> socket.socket:
        host = address[0]
        assert host in ("127.0.0.1", "::1") or host.startswith("127."), \
            f"a connection to {host} was attempted"
        return real(address, *args, **kw)

    monkeypatch.setattr(socket, "create_connection", guard)


class Resolver:
    """Names answered by the test as a DNS server would, one answer a lookup (the last
    one repeats), each lookup counted; other names as usual (literals and /etc/hosts: no
    query leaves the machine)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[str, ...]]] = {}
        self.asked: list[str] = []

    def lookup(self, host: str, port: Any) -> list | None:
        if host not in self.answers:
            return None
        self.asked.append(host)
        queued = self.answers[host]
        answer = queued.pop(0) if len(queued) > 1 else queued[0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port)) for a in answer]


@pytest.fixture()
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    dns, real = Resolver(), socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> list:
        return dns.lookup(host, port) or real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return dns


@pytest.fixture()
def local_receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture()
def receiver(app: Flask, local_receiver: Receiver) -> Receiver:
    """A receiver the app may post to: loopback allowed, as an operator would allow an
    internal network (WEBHOOK_ALLOWED_NETWORKS)."""
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
    return local_receiver


def job(url: str, secret: str = "s") -> webhooks._Job:
    return webhooks._Job("delivery-1", url, secret, b'{"id":"n"}')


# ---- add time ----------------------------------------------------------------------
@pytest.mark.parametrize("url", REFUSED_URLS)
def test_an_internal_or_credentialed_url_is_refused_when_added(bare: Flask, url: str) -> None:
    with pytest.raises(Invalid) as refused:
        webhooks.check_url(url)
    assert refused.value.code == "webhook.bad_url"


def test_public_https_is_accepted_and_http_only_outside_production(bare: Flask) -> None:
    for url in ("https://hooks.example.org/hook", "https://203.0.113.9.nip.io/x",
                "http://hooks.example.org:8080/x", "https://[2606:4700::1111]/x",
                "https://8.8.8.8/x"):
        webhooks.check_url(url)
    bare.config["WEBHOOK_ALLOW_HTTP"] = False
    with pytest.raises(Invalid, match="https"):
        webhooks.check_url("http://hooks.example.org/hook")
    webhooks.check_url("https://hooks.example.org/hook")
    # An operator's network: allowed by literal address too (the tests' receivers).
    bare.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
    webhooks.check_url("https://127.0.0.1:8443/hook")
    with pytest.raises(Invalid):
        webhooks.check_url("https://10.0.0.1/hook")


def test_the_api_refuses_them_and_keeps_nothing(app: Flask, as_user) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    for url in REFUSED_URLS[:13]:  # the list
        answer = admin.post("/api/webhooks", json={"url": url})
        assert answer.status_code == 422, url
        assert answer.get_json()["code"] == "webhook.bad_url", url
    app.config["WEBHOOK_ALLOW_HTTP"] = False  # as in production
    assert admin.post("/api/webhooks", json={"url": "http://hooks.example.org/h"}
                      ).get_json()["code"] == "webhook.bad_url"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Webhook)) == 0


def test_production_requires_https_and_the_key(tmp_path: Path) -> None:
    env = {"FIELDCASE_ENV": "production", "SECRET_KEY": "s", "AUDIT_SIGNING_KEY": "ab" * 32}
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET_KEY"):
        load_config(str(tmp_path), env)
    with pytest.raises(ConfigError, match="PERSONAL_DATA_KEY"):  # the seals' key, too
        load_config(str(tmp_path), {**env, "WEBHOOK_SECRET_KEY": "cd" * 32})
    config = load_config(str(tmp_path), {**env, "WEBHOOK_SECRET_KEY": "cd" * 32,
                                         "PERSONAL_DATA_KEY": "ef" * 32})
    assert config["WEBHOOK_ALLOW_HTTP"] is False and config["WEBHOOK_ALLOWED_NETWORKS"] == ()
    dev = load_config(str(tmp_path), {"WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8, 10.1.2.0/24"})
    assert dev["WEBHOOK_ALLOW_HTTP"] is True
    assert dev["WEBHOOK_ALLOWED_NETWORKS"] == ("127.0.0.0/8", "10.1.2.0/24")
    assert load_config(str(tmp_path), {})["WEBHOOK_SECRET_KEY"] == dev["WEBHOOK_SECRET_KEY"]
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOWED_NETWORKS"):
        load_config(str(tmp_path), {"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/33"})
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET_KEY"):
        load_config(str(tmp_path), {"WEBHOOK_SECRET_KEY": "not-hex"})


# ---- delivery time -----------------------------------------------------------------
@pytest.mark.parametrize("host", [
    "127.0.0.1", "localhost", "0.0.0.0", "2130706433", "0x7f000001", "127.1", "[::1]",
    "[::ffff:127.0.0.1]", "0177.0.0.1", "metadata.google.internal", "user:pass@127.0.0.1",
    "internal.example.test", "mixed.example.test"])
def test_a_delivery_to_an_internal_address_is_refused_and_reaches_nothing(
        bare: Flask, only_loopback: None, resolver: Resolver, local_receiver: Receiver,
        host: str) -> None:
    """As a row from before these rules, or a name whose DNS answer changed, would be."""
    resolver.answers["metadata.google.internal"] = [("169.254.169.254",)]
    resolver.answers["internal.example.test"] = [("10.0.0.1",)]
    resolver.answers["mixed.example.test"] = [("93.184.215.14", "127.0.0.1")]
    error = webhooks._send(job(f"http://{host}:{local_receiver.server.server_port}/hook"))
    assert error is not None and "refused" in error, error
    assert local_receiver.got == []


def test_an_allowed_network_is_posted_to_at_the_address_checked(
        bare: Flask, only_loopback: None, resolver: Resolver, local_receiver: Receiver
) -> None:
    """The name is resolved once, and that address is dialled: a second answer (DNS
    rebinding to a refused address) is never asked for. Host header: the name."""
    bare.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
    resolver.answers["hooks.example.test"] = [("127.0.0.1",), ("10.0.0.1",)]
    port = local_receiver.server.server_port
    assert webhooks._send(job(f"http://hooks.example.test:{port}/hook")) is None
    assert resolver.asked == ["hooks.example.test"]
    headers, _ = local_receiver.got[0]
    assert headers["Host"] == f"hooks.example.test:{port}"
    # The next delivery asks again, and the rebound answer is refused.
    error = webhooks._send(job(f"http://hooks.example.test:{port}/hook"))
    assert error is not None and "refused" in error and len(local_receiver.got) == 1
    # A path as an admin may type it is escaped, not a reason to fail.
    assert webhooks._send(job(f"http://127.0.0.1:{port}/hook/钩 子?q=1 2")) is None
    assert local_receiver.paths[-1] == "/hook/%E9%92%A9%20%E5%AD%90?q=1%202"


def self_signed(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for `name`: the receiver's context, and a client's that trusts it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - D).not_valid_after(now + D)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    return server, client


def test_https_dials_the_checked_address_and_verifies_the_name(
        bare: Flask, only_loopback: None, resolver: Resolver, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bare.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
    server, client = self_signed(tmp_path, "hooks.example.test")
    monkeypatch.setattr(webhook_transport, "_tls", lambda: client)
    tls = Receiver(tls=server)
    try:
        port = tls.server.server_port
        resolver.answers["hooks.example.test"] = [("127.0.0.1",)]
        resolver.answers["other.example.test"] = [("127.0.0.1",)]
        assert webhooks._send(job(f"https://hooks.example.test:{port}/hook")) is None
        assert tls.got[0][0]["Host"] == f"hooks.example.test:{port}"
        # The same address under another name: its certificate does not match.
        error = webhooks._send(job(f"https://other.example.test:{port}/hook"))
        assert error is not None and "CERTIFICATE_VERIFY_FAILED" in error, error
        assert len(tls.got) == 1
    finally:
        tls.server.shutdown()
        tls.server.server_close()


def test_no_redirect_is_followed_and_loopback_needs_the_allowance(
        app: Flask, as_user, make_case, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    other = Receiver()
    try:
        make_case(received_at=ago(6 * D + 23 * H))
        caught_up()
        add_hook(app, as_user, receiver.url)
        when = datetime.now(UTC) + 2 * H
        # Without the operator's allowance, loopback is refused when posting.
        app.config["WEBHOOK_ALLOWED_NETWORKS"] = ()
        assert sweep.sweep(when)["failed"] == 1
        row = db.session.scalars(sa.select(WebhookDelivery)).one()
        assert "refused" in row.last_error and "internal address" in row.last_error
        assert receiver.got == []
        # Allowed, it answers 307 to another local server: not followed.
        app.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
        receiver.redirect = other.url
        counts = sweep.sweep(when + webhooks.backoff(1) + timedelta(seconds=5))
        assert counts["failed"] == 1 and counts["delivered"] == 0
        db.session.expire_all()
        row = db.session.scalars(sa.select(WebhookDelivery)).one()
        assert (row.state, row.attempts, row.last_error) == ("pending", 2, "HTTP 307")
        assert other.got == []
    finally:
        other.server.shutdown()
        other.server.server_close()


# ---- the unit ----------------------------------------------------------------------
def test_a_street_admin_adds_lists_and_deactivates_only_their_units_webhooks(
        app: Flask, as_user) -> None:  # type: ignore[no-untyped-def]
    district, street = as_user("admin"), as_user("admin_a")
    url = "https://hooks.example.org/"
    d_hook = district.post("/api/webhooks", json={"url": url + "d"})
    b_hook = district.post("/api/webhooks", json={"url": url + "b",
                                                  "unit_id": unit_id("Street B")})
    a_hook = street.post("/api/webhooks", json={"url": url + "a"})
    assert [h.status_code for h in (d_hook, b_hook, a_hook)] == [201, 201, 201]
    d_hook, b_hook, a_hook = d_hook.get_json(), b_hook.get_json(), a_hook.get_json()
    assert [h["unit"]["name"] for h in (d_hook, b_hook, a_hook)] == [
        "District", "Street B", "Street A"]
    for other in (unit_id("District"), unit_id("Street B"),
                  "00000000-0000-4000-8000-000000000000"):
        answer = street.post("/api/webhooks", json={"url": url + "x", "unit_id": other})
        assert answer.status_code == 422 and answer.get_json()["code"] == "webhook.bad_unit"
    assert [h["id"] for h in street.get("/api/webhooks").get_json()["items"]] == [a_hook["id"]]
    assert len(district.get("/api/webhooks").get_json()["items"]) == 3
    for hook in (d_hook, b_hook):  # another unit's: the same 404 as none
        answer = street.delete(f"/api/webhooks/{hook['id']}")
        assert answer.status_code == 404 and answer.get_json()["code"] == "webhook.not_found"
    assert all(h["active"] for h in district.get("/api/webhooks").get_json()["items"])
    assert street.delete(f"/api/webhooks/{a_hook['id']}").get_json()["active"] is False
    assert as_user("reviewer").get("/api/webhooks").status_code == 403


def test_a_webhook_is_sent_only_the_cases_its_unit_may_see(
        app: Flask, as_user, make_case, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    old = ago(6 * D + 23 * H)
    in_a = make_case("Street A", subject="in A", received_at=old)
    make_case("Street B", subject="in B", received_at=old)
    co = make_case("Street B", subject="B's, co-handled by A", received_at=old)
    db.session.add(CaseUnit(case_id=co["id"], unit_id=unit_id("Street A"), part="noise"))
    db.session.commit()
    caught_up()
    hooks = {"d": add_hook(app, as_user, receiver.url + "/d"),
             "a": add_hook(app, as_user, receiver.url + "/a", by="admin_a"),
             "b": add_hook(app, as_user, receiver.url + "/b", unit_id=unit_id("Street B"))}
    when = datetime.now(UTC) + 2 * H
    assert sweep.sweep(when, deliver=False)["raised"] == 3
    owed = {(d.webhook_id, d.notification_id) for d in db.session.scalars(
        sa.select(WebhookDelivery))}
    assert len(owed) == 3 + 2 + 2  # none queued for what a hook's unit cannot see
    # Before it is sent, "in A" moves to Street B: A's webhook is no longer told.
    db.session.execute(sa.text("UPDATE cases SET unit_id = :u WHERE id = :c"),
                       {"u": unit_id("Street B"), "c": in_a["id"]})
    db.session.commit()
    counts = webhooks.deliver_due(when)
    assert counts["delivered"] == 6
    got: dict[str, set[str]] = {}
    for path, (_, body) in zip(receiver.paths, receiver.got, strict=True):
        got.setdefault(path.rsplit("/", 1)[1], set()).add(json.loads(body)["case"]["subject"])
    assert got == {"d": {"in A", "in B", "B's, co-handled by A"},
                   "a": {"B's, co-handled by A"},
                   "b": {"in B", "B's, co-handled by A"}}
    given_up = db.session.scalars(sa.select(WebhookDelivery).where(
        WebhookDelivery.webhook_id == hooks["a"]["id"],
        WebhookDelivery.state == "failed")).one()
    assert given_up.last_error == "case outside the webhook's unit"


# ---- the secret --------------------------------------------------------------------
def test_the_secret_is_made_by_the_server_shown_once_and_stored_sealed(
        app: Flask, as_user) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    chosen = admin.post("/api/webhooks", json={"url": "https://hooks.example.org/h",
                                               "secret": "mine"})
    assert chosen.status_code == 422 and "secret" in chosen.get_json()["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Webhook)) == 0
    answer = admin.post("/api/webhooks", json={"url": "https://hooks.example.org/h"})
    assert answer.status_code == 201
    hook, secret = answer.get_json(), answer.get_json()["secret"]
    assert len(secret) >= 40
    assert "secret" not in admin.get("/api/webhooks").get_json()["items"][0]
    stored = db.session.execute(sa.select(Webhook.__table__)).mappings().one()
    assert all(secret not in str(value) for value in stored.values())
    assert stored["legacy_secret"] is None
    assert webhooks.unseal(hook["id"], stored["secret_sealed"]) == secret
    with pytest.raises(ValueError):  # moved onto another row, it does not open
        webhooks.unseal("another-id", stored["secret_sealed"])
    app.config["WEBHOOK_SECRET_KEY"] = "cd" * 32
    with pytest.raises(ValueError):  # the database alone (another key) cannot open it
        webhooks.unseal(hook["id"], stored["secret_sealed"])


def test_a_plain_secret_from_before_0011_is_sealed_by_the_next_sweep_and_still_signs(
        app: Flask, make_case, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    make_case(received_at=ago(6 * D + 23 * H))
    caught_up()
    db.session.add(Webhook(unit_id=unit_id("District"), url=receiver.url,
                           legacy_secret="from-before"))
    db.session.commit()
    assert sweep.sweep(datetime.now(UTC) + 2 * H)["delivered"] == 1
    headers, body = receiver.got[0]
    assert webhooks.verify("from-before", headers["X-Fieldcase-Timestamp"], body,
                           headers["X-Fieldcase-Signature"])
    db.session.expire_all()
    row = db.session.scalars(sa.select(Webhook)).one()
    assert row.legacy_secret is None and "from-before" not in row.secret_sealed
    assert webhooks.unseal(row.id, row.secret_sealed) == "from-before"


# ---- slow receivers ----------------------------------------------------------------
class Silent:
    """A receiver that accepts connections (the kernel does, from the backlog) and never
    answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.arrivals: list[float] = []  # when each connection came (monotonic)
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.arrivals.append(time.monotonic())
            self._held.append(conn)  # kept open, never answered

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture()
def silent(app: Flask) -> Iterator[list[Silent]]:
    app.config.update(WEBHOOK_ALLOWED_NETWORKS=LOOPBACK, WEBHOOK_TIMEOUT_S=1.5)
    receivers = [Silent() for _ in range(4)]
    yield receivers
    for r in receivers:
        r.close()


def delivery_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("webhook-delivery-")]


def test_receivers_that_never_answer_do_not_hold_up_the_sweep(
        app: Flask, as_user, make_case, silent: list[Silent]) -> None:  # type: ignore[no-untyped-def]
    make_case(received_at=ago(6 * D + 23 * H))
    caught_up()
    for r in silent:
        add_hook(app, as_user, r.url)
    started = time.monotonic()
    counts = sweep.sweep(datetime.now(UTC) + 2 * H)
    took = time.monotonic() - started
    timeout = app.config["WEBHOOK_TIMEOUT_S"]
    # All four were being posted to at once: each connection came before the first
    # could time out (one after another they come a timeout apart, 6 s in all).
    arrivals = [a for r in silent for a in r.arrivals]
    assert len(arrivals) == 4 and max(arrivals) - min(arrivals) < timeout, arrivals
    assert took < 4 * timeout, took
    assert counts["failed"] == 4 and counts["audit_checkpoint"] is True
    rows = db.session.scalars(sa.select(WebhookDelivery)).all()
    assert [(r.state, r.attempts) for r in rows] == [("pending", 1)] * 4
    assert all("TimeoutError" in r.last_error for r in rows)


def test_what_the_budget_leaves_waits_for_a_later_sweep_and_is_never_lost(
        app: Flask, as_user, make_case, silent: list[Silent]) -> None:  # type: ignore[no-untyped-def]
    # A budget far shorter than a receiver's timeout: the sweep returns on its budget.
    app.config.update(WEBHOOK_SWEEP_BUDGET_S=0.5, WEBHOOK_CONCURRENCY=2, WEBHOOK_TIMEOUT_S=3)
    make_case(received_at=ago(6 * D + 23 * H))
    caught_up()
    for r in silent:
        add_hook(app, as_user, r.url)
    when = datetime.now(UTC) + 2 * H
    started = time.monotonic()
    counts = sweep.sweep(when)
    assert time.monotonic() - started < app.config["WEBHOOK_TIMEOUT_S"]
    assert counts["unfinished"] == 2 and counts["audit_checkpoint"] is True
    states = sorted(d.state for d in db.session.scalars(sa.select(WebhookDelivery)))
    assert states == ["pending", "pending", "sending", "sending"]  # 2 under their lease
    # The next sweep takes the two left, not the two under their lease.
    again = sweep.sweep(when)
    assert again["unfinished"] == 2 and again["audit_checkpoint"] is False  # no new entry
    for t in delivery_threads():  # each ends within its timeout
        t.join(5)
    db.session.expire_all()
    rows = db.session.scalars(sa.select(WebhookDelivery)).all()
    assert [(r.state, r.attempts) for r in rows] == [("pending", 1)] * 4
