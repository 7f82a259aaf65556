"""Dev and demo keep their random keys in the instance folder. Several gunicorn workers
start at once on a new folder: each must end up with the one key that was kept, never a
half-written file (a CI run once had a worker refuse to boot: "WEBHOOK_SECRET_KEY must be
64 hex digits") nor a key of its own that the others lost."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from server.config import _kept_secret, load_config


def test_a_worker_that_loses_the_race_takes_the_kept_key(tmp_path: Path) -> None:
    path = tmp_path / "webhook_secret_key"
    theirs = secrets.token_hex(32)

    def make_while_another_worker_keeps_its_own() -> str:
        path.write_text(theirs)  # the other worker got there first
        return secrets.token_hex(32)

    got = _kept_secret({}, "WEBHOOK_SECRET_KEY", tmp_path, False,
                       make_while_another_worker_keeps_its_own)
    assert got == theirs and path.read_text() == theirs
    assert [p.name for p in tmp_path.iterdir()] == ["webhook_secret_key"]  # no temp left


def test_workers_starting_together_agree_on_every_key(tmp_path: Path) -> None:
    start = threading.Barrier(16)
    seen: list[tuple[str, str]] = []

    def worker() -> None:
        start.wait()
        config = load_config(str(tmp_path), env={})
        seen.append((config["WEBHOOK_SECRET_KEY"], config["PERSONAL_DATA_KEY"]))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 16 and len(set(seen)) == 1
    assert all(len(bytes.fromhex(key)) == 32 for key in seen[0])
