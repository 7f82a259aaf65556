"""A TCP forwarder on loopback that a test can cut and restore: the database (or any
server) "unplugged" for real, without stopping the server other tests share."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from urllib.parse import urlsplit


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.frozen = False
        self._conns: list[socket.socket] = []
        self._held: list[socket.socket] = []  # accepted while frozen, never answered
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # refused, as an unplugged server would be
                continue
            if self.frozen:  # a stopped process: the kernel accepts, nobody answers
                with self._lock:
                    self._held.append(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                while self.frozen:
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.up = False
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.up = True

    def freeze(self) -> None:
        """Hang like a stopped (SIGSTOP) server: connections open, nothing answers."""
        self.frozen = True

    def thaw(self) -> None:
        """Resume; connections that arrived while frozen are dropped (their clients gave
        up long ago)."""
        self.frozen = False
        with self._lock:
            held, self._held = self._held, []
        for s in held:
            s.close()

    def close(self) -> None:
        self.thaw()
        self.cut()
        self.listener.close()


def database_proxy(url: str) -> tuple[TcpProxy, str]:
    """A proxy in front of the PostgreSQL server of this SQLAlchemy URL, and the URL that
    goes through it."""
    target = urlsplit(url.replace("postgresql+psycopg", "http"))
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxied = url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
    assert proxied != url, url
    return proxy, proxied
