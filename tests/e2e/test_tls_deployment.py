"""The deployment a phone can use: gunicorn on loopback behind Caddy with HTTPS (the
`make run-tls` configuration, deploy/Caddyfile.local), opened in Chromium that trusts the
certificate: a secure context, the service worker in control, the __Host- cookie Secure
and HttpOnly, and a location fix."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import unavailable
from tests.e2e.conftest import CHROMIUM, FLAGS, HERE, free_port
from tests.e2e.helpers import login

ROOT = Path(__file__).resolve().parents[2]
CADDY = "/usr/bin/caddy"


def _leaf_spki(port: int) -> str:
    pem = ssl.get_server_certificate(("127.0.0.1", port))
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_the_app_behind_https_installs_locates_and_keeps_a_secure_cookie(
        playwright_driver, tmp_path):  # type: ignore[no-untyped-def]
    if not Path(CADDY).exists():
        unavailable("caddy is not installed (make test installs it)")
    web, tls = free_port(), free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'tls.db'}",
           "STORAGE_URL": f"file://{tmp_path / 'objects'}", "INSTANCE_PATH": str(tmp_path),
           "HOST": "127.0.0.1", "PORT": str(web), "TRUSTED_PROXY_HOPS": "1",
           "COOKIE_SECURE": "1", "GUNICORN_CONTROL_SOCKET": "off",
           "FIELDCASE_LAN_HOST": "127.0.0.1", "FIELDCASE_TLS_PORT": str(tls),
           "XDG_DATA_HOME": str(tmp_path / "xdg"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    for step in (["migrate"], ["demo", "--if-empty"]):
        subprocess.run([str(bin_dir / "fieldcase"), *step], env=env, cwd=ROOT, check=True,
                       capture_output=True, timeout=120)
    procs = [subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for command in ([str(bin_dir / "gunicorn"), "--config", "gunicorn.conf.py",
                              "server:create_app()"],
                             [CADDY, "run", "--config", "deploy/Caddyfile.local",
                              "--adapter", "caddyfile"])]
    try:
        root_ca = tmp_path / "xdg" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if root_ca.exists() and requests.get(
                        f"https://127.0.0.1:{tls}/api/health", verify=str(root_ca),
                        timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, OSError):
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("the app did not come up behind Caddy")
        # The phone trusts Caddy's certificate (as after installing its root).
        browser = playwright_driver.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*FLAGS, f"--ignore-certificate-errors-spki-list={_leaf_spki(tls)}"])
        context = browser.new_context(
            base_url=f"https://127.0.0.1:{tls}", viewport={"width": 390, "height": 844},
            geolocation=HERE, permissions=["geolocation"], locale="zh-CN",
            bypass_csp=True)  # see conftest.CSP_NOTE
        context.grant_permissions(["geolocation"], origin=f"https://127.0.0.1:{tls}")
        page = context.new_page()
        login(page)
        assert page.evaluate("isSecureContext") is True
        page.wait_for_function("navigator.serviceWorker.controller !== null",
                               timeout=30000)
        cookie = next(c for c in context.cookies() if c["name"] == "__Host-fieldcase")
        assert cookie["secure"] and cookie["httpOnly"] and cookie["path"] == "/"
        # The location fix, as the inspector sees it: distances to the cases.
        page.wait_for_function("""[...document.querySelectorAll('#case-list .distance')]
            .some(e => /\\d\\s*k?m$/.test(e.textContent.trim()))""", timeout=30000)
        browser.close()
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
