"""A real RQ worker for the tests, started as its own process (`python -m
tests.jobs_worker`): the app made from the overrides in FIELDCASE_TEST_OVERRIDES (JSON)
and the same loop `fieldcase worker` runs, plus a slow job kind the tests can kill a
worker in the middle of."""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any

from server.domain.jobs import kinds
from server.models import User

SLOW = "test.slow"


def _prepare(_user: User, params: dict[str, Any]) -> dict[str, Any]:
    return {"steps": int(params.get("steps", 10)), "step_s": float(params.get("step_s", 0.3))}


def _run(_user: User, params: dict[str, Any], spool: IO[bytes],
         progress: kinds.Progress) -> kinds.Made:
    for i in range(params["steps"]):
        progress(i, params["steps"], "sleeping")
        spool.write(f"step {i}\n".encode())
        time.sleep(params["step_s"])
    progress(params["steps"], params["steps"], "sleeping")
    return kinds.Made("slow.txt", "text/plain")


kinds.register(kinds.Kind(SLOW, _prepare, _run))


def main() -> None:
    from server import create_app
    from server.domain.jobs import worker

    app = create_app(json.loads(os.environ["FIELDCASE_TEST_OVERRIDES"]))
    worker.run(app)


if __name__ == "__main__":
    main()
