"""The restore drill's time: `fieldcase backup` and `fieldcase restore` of an embedded
instance (SQLite + local disk) with 1,000 cases and 5,000 photos (each an original and its
two thumbnails, as the app stores them: 15,000 objects, small JPEGs).

The cases come from bench_board's generator (deadlines by the real engine); the photos'
rows are inserted directly and their files written straight into the store's layout
(data file and content-type sidecar), which is fast and is what the store would hold.
Then, timed in this process (the CLI's own start-up left out): what `fieldcase backup`,
`fieldcase backup-verify` and `fieldcase restore` (onto a new database file and a new
folder) do. Reference
in the same run: GNU tar of the same instance folder (the database file and the objects)
into one archive, and its extraction into a new folder, i.e. copying the same bytes
without a consistent snapshot, hashes, a manifest or durable writes. Printed: the times
and their ratios to tar. Target: the restore of 1,000 cases with 5,000 photos within
a minute on this machine; the ratios are reported. Then the peak memory of backup,
verify and restore with 4,000 and 32,000 tiny objects: what grows with the objects, per
object (target: at most 400 bytes, i.e. no entry or tar header kept per object).
Run: .venv/bin/python bench/bench_restore.py [--cases N] [--photos N] [--quick]
(--quick: 50 cases, 250 photos)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from report import emit  # bench/report.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_S = 60.0
# What may grow per object: the photos' folder names that pathlib interns as each object
# is read or written (~90 bytes); an entry and a tar header per object (format 1's reader
# and writer: 1,100 to 2,300 bytes an object) must not be held. The interpreter's table of interned
# strings (which pathlib fills) is reallocated now and then, ~4 MB at once whatever the
# count: over 28,000 more objects that is ~140 bytes an object of noise.
MEMORY_PER_OBJECT = 400


def jpegs(rng: random.Random, count: int) -> list[tuple[bytes, bytes, bytes]]:
    """A few distinct small photos (noise, so JPEG cannot shrink them to nothing), each
    with a large and a small thumbnail."""
    from PIL import Image

    out = []
    for _ in range(count):
        image = Image.frombytes("RGB", (320, 240), rng.randbytes(320 * 240 * 3))
        sizes = []
        for box in ((320, 240), (160, 120), (64, 48)):
            buffer = io.BytesIO()
            image.resize(box).save(buffer, "JPEG", quality=80)
            sizes.append(buffer.getvalue())
        out.append((sizes[0], sizes[1], sizes[2]))
    return out


def write_object(root: Path, key: str, data: bytes, content_type: str) -> None:
    """What LocalStorage.put leaves on disk (less its fsyncs): the file and its sidecar."""
    path = root.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.with_name(f".{path.name}.meta.json").write_text(
        json.dumps({"content_type": content_type, "size": len(data)}))


def populate(instance: Path, cases: int, photos: int) -> dict[str, int]:
    import bench_board

    from server import create_app
    from server.domain.fieldwork.evidence import final_key, thumb_key
    from server.extensions import db
    from server.models import Case, Evidence, User
    from server.models.base import new_id

    url = f"sqlite:///{instance / 'fieldcase.db'}"
    bench_board.vacuum = lambda _url: None  # its VACUUM ANALYZE is PostgreSQL's
    bench_board.generate(url, cases, instance, open_share=0.05)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(instance),
                      "STORAGE_URL": f"file://{instance / 'objects'}"})
    rng = random.Random(22)
    images = jpegs(rng, 16)
    objects = instance / "objects"
    now = datetime.now(UTC)
    with app.app_context():
        case_ids = list(db.session.scalars(sa.select(Case.id)))
        office = db.session.scalar(sa.select(User.id).filter_by(username="office"))
        rows = []
        for i in range(photos):
            evidence_id = new_id()
            original, large, small = images[i % len(images)]
            write_object(objects, final_key(evidence_id), original, "image/jpeg")
            write_object(objects, thumb_key(evidence_id, "large"), large, "image/jpeg")
            write_object(objects, thumb_key(evidence_id, "small"), small, "image/jpeg")
            rows.append({
                "id": evidence_id, "client_id": str(uuid.uuid4()),
                "request_hash": hashlib.sha256(evidence_id.encode()).hexdigest(),
                "case_id": case_ids[i % len(case_ids)], "state": "stored",
                "sha256": hashlib.sha256(original).hexdigest(), "size": len(original),
                "declared_type": "image/jpeg", "captured_at": now, "uploaded_by": office,
                "declared_at": now, "staging_key": f"staging/{evidence_id}",
                "object_key": final_key(evidence_id), "content_type": "image/jpeg",
                "stored_at": now, "width": 320, "height": 240,
                "thumbnails": {"large": thumb_key(evidence_id, "large"),
                               "small": thumb_key(evidence_id, "small")}})
        db.session.execute(sa.insert(Evidence), rows)
        db.session.commit()
        db.engine.dispose()
    files = sum(1 for _ in objects.rglob("*") if _.is_file() and not _.name.startswith("."))
    return {"cases": len(case_ids), "photos": photos, "objects": files}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def drill(source: Path, restored: Path, archive: Path) -> tuple[float, float, float]:
    """What `fieldcase backup`, `backup-verify` and `restore` do, timed in this process
    (the CLI adds its start-up, seconds on a loaded machine, to each)."""
    from server import create_app
    from server.backup import check_archive, make_backup, restore
    from server.cli import _keys_manifest

    def app_for(instance: Path):  # type: ignore[no-untyped-def]
        return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'fieldcase.db'}",
                           "INSTANCE_PATH": str(instance),
                           "STORAGE_URL": f"file://{instance / 'objects'}"})

    app = app_for(source)
    with app.app_context():
        started = time.perf_counter()
        with open(archive, "wb") as out:
            make_backup(out, database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                        storage=app.extensions["fieldcase.storage"], keys=_keys_manifest(),
                        app_version="bench")
            out.flush()
            os.fsync(out.fileno())
        backup_s = time.perf_counter() - started
    started = time.perf_counter()
    _manifest, findings = check_archive(archive)
    verify_s = time.perf_counter() - started
    assert not findings, findings[:3]
    target = app_for(restored)
    with target.app_context():
        started = time.perf_counter()
        report = restore(archive, database_url=target.config["SQLALCHEMY_DATABASE_URI"],
                         storage=target.extensions["fieldcase.storage"])
        restore_s = time.perf_counter() - started
    assert not report.findings and report.database_restored, report.findings[:3]
    return backup_s, verify_s, restore_s


def memory_by_objects(tmp: Path, counts: tuple[int, int]) -> dict[int, dict[str, float]]:
    """Peak Python memory (tracemalloc) of backup, verify and restore of an instance whose
    store holds N tiny objects (named as photos are), at two N: nothing is kept per object
    but the folder names pathlib interns (the local store lists its folders as it walks
    them), so the peak should barely grow with N. The database is an empty schema: its
    file is streamed either way."""
    # Each in a process of its own: a second run in the same process measures what the
    # first left behind (caches, garbage) besides its own.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    peaks = {}
    for n in counts:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            peaks[n] = pool.submit(_peaks, tmp, n).result()
    for n, figures in peaks.items():
        print(f"  {n} objects: peak {figures['backup']:.1f} MB backing up, "
              f"{figures['verify']:.1f} MB verifying, {figures['restore']:.1f} MB restoring",
              flush=True)
    return peaks


def _peaks(tmp: Path, n: int) -> dict[str, float]:
    """Backup, verify and restore run twice: first untraced, so that what any first run
    does once (imports, caches, the resizing of the interpreter's table of interned
    strings, which pathlib fills) is done; then traced."""
    import tracemalloc

    from server import create_app
    from server.backup import check_archive, make_backup, restore
    from server.extensions import db

    def app_for(instance: Path):  # type: ignore[no-untyped-def]
        instance.mkdir()
        return create_app({
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'fieldcase.db'}",
            "INSTANCE_PATH": str(instance), "SECRET_KEY": "bench",
            "STORAGE_URL": f"file://{instance / 'objects'}"})

    source = app_for(tmp / f"mem-{n}")
    with source.app_context():
        db.create_all()
        db.engine.dispose()
    for i in range(n):
        write_object(tmp / f"mem-{n}" / "objects", f"evidence/{uuid.UUID(int=i)}/original",
                     i.to_bytes(16, "big"), "image/jpeg")
    figures: dict[str, float] = {}

    def peak(phase: str, run: Any, traced: bool) -> None:
        if not traced:
            run()
            return
        tracemalloc.start()
        try:
            run()
            figures[phase] = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()

    for traced in (False, True):
        archive = tmp / f"m{n}-{traced}.tar"
        target = app_for(tmp / f"mem-{n}-restored-{traced}")

        def backup(archive: Path = archive) -> None:
            with open(archive, "wb") as out:
                make_backup(out, database_url=source.config["SQLALCHEMY_DATABASE_URI"],
                            storage=source.extensions["fieldcase.storage"], keys={},
                            app_version="bench")

        with source.app_context():
            peak("backup", backup, traced)
            db.engine.dispose()
        peak("verify", lambda archive=archive: check_archive(archive), traced)
        with target.app_context():
            peak("restore", lambda archive=archive, target=target: restore(
                archive, database_url=target.config["SQLALCHEMY_DATABASE_URI"],
                storage=target.extensions["fieldcase.storage"]), traced)
            db.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.photos = 50, 250
    tmp = Path(tempfile.mkdtemp(prefix="fieldcase-bench-restore-"))
    try:
        source, restored, untarred = tmp / "source", tmp / "restored", tmp / "untarred"
        for path in (source, restored, untarred):
            path.mkdir()
        os.environ["INSTANCE_PATH"] = str(source)  # its keys are made there, for both
        started = time.perf_counter()
        made = populate(source, args.cases, args.photos)
        print(f"populated {made['cases']} cases, {made['photos']} photos "
              f"({made['objects']} objects) in {time.perf_counter() - started:.1f} s",
              flush=True)
        archive = tmp / "backup.tar"
        backup_s, verify_s, restore_s = drill(source, restored, archive)
        size_mb = archive.stat().st_size / 1e6
        plain = tmp / "plain.tar"
        tar_s = timed(["tar", "-cf", str(plain), "-C", str(source), "fieldcase.db", "objects"])
        subprocess.run(["sync", str(plain)], check=False)  # as the backup's fsync
        untar_s = timed(["tar", "-xf", str(plain), "-C", str(untarred)])
        figures = {
            "cases": made["cases"], "photos": made["photos"], "objects": made["objects"],
            "archive_mb": round(size_mb, 1),
            "backup_s": backup_s, "verify_s": verify_s, "restore_s": restore_s,
            "tar_s": tar_s, "untar_s": untar_s,
            "backup_vs_tar": backup_s / tar_s, "restore_vs_untar": restore_s / untar_s,
        }
        print(f"backup {backup_s:.1f} s ({backup_s / tar_s:.1f}x tar's {tar_s:.2f} s), "
              f"verify {verify_s:.1f} s, restore {restore_s:.1f} s "
              f"({restore_s / untar_s:.1f}x untar's {untar_s:.2f} s); archive {size_mb:.0f} MB",
              flush=True)
        counts = (500, 2000) if args.quick else (4000, 32000)
        print(f"memory as the objects grow ({counts[0]} -> {counts[1]}, tracemalloc's peak):",
              flush=True)
        peaks = memory_by_objects(tmp, counts)
        small, large = peaks[counts[0]], peaks[counts[1]]
        for phase in ("backup", "verify", "restore"):
            figures[f"{phase}_peak_mb_{counts[0]}"] = small[phase]
            figures[f"{phase}_peak_mb_{counts[1]}"] = large[phase]
            figures[f"{phase}_peak_growth"] = large[phase] / small[phase]
            figures[f"{phase}_bytes_per_object"] = (
                (large[phase] - small[phase]) * 1e6 / (counts[1] - counts[0]))
        print(f"  growth of the peak for {counts[1] // counts[0]}x the objects: " + ", ".join(
            f"{phase} {figures[f'{phase}_peak_growth']:.2f}x "
            f"({figures[f'{phase}_bytes_per_object']:.0f} bytes an object)"
            for phase in ("backup", "verify", "restore")), flush=True)
        met = {
            f"restore of {made['cases']} cases with {made['photos']} photos <= "
            f"{TARGET_S:.0f} s": restore_s <= TARGET_S,
            f"memory of backup, verify and restore <= {MEMORY_PER_OBJECT} bytes an object": all(
                figures[f"{phase}_bytes_per_object"] <= MEMORY_PER_OBJECT
                for phase in ("backup", "verify", "restore"))}
        if args.quick:  # the quick pass judges nothing about speed
            met = {"runs to the end": True}
        emit("restore", met, f"restore <= {TARGET_S:.0f} s for 1,000 cases with 5,000 photos; "
                             f"memory growth <= {MEMORY_PER_OBJECT} bytes an object; ratios "
                             "to tar reported", figures, args.quick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
