"""The restore drill (issue 22): a populated instance (sealed cases, revisits, a case
reopened and sealed again, one reopened and left open, a signed audit checkpoint) is
backed up with `fieldcase backup`, restored with `fieldcase restore` onto a new database
and a new store, and then every sealed case passes `verify-case`, the audit log passes
`verify-audit` against its checkpoints with the public key the manifest recorded, and row
counts and object hashes match. An archive missing an object, or holding a changed one,
is named by `backup-verify` and by `restore` (exit status 1), and a restore onto a
database or a store that holds data is refused with nothing written.

On the embedded stack (SQLite + local disk) and the scaled one (PostgreSQL through pg_dump
and pg_restore + SeaweedFS)."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import tarfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from server import create_app
from server.backup.databases import count_rows
from server.cli import cli
from server.domain.fieldwork.evidence import final_key
from server.extensions import db
from server.models import Seal
from tests.closure_facts import night_visit, plan_if_hard, submit_ready, tell_complainant
from tests.conftest import fresh_pg_database
from tests.test_lifecycle import params_for, walk
from tests.test_seal import SAMPLE, approve, in_hand


def run(app: Flask, *args: str) -> Any:
    # In that app's own context: the CLI would otherwise run in the one already pushed
    # (the source's, by the `app` fixture).
    with app.app_context():
        return app.test_cli_runner().invoke(cli, list(args))


def store_hashes(app: Flask) -> dict[str, str]:
    with app.app_context():
        store = app.extensions["fieldcase.storage"]
        return {info.key: hashlib.sha256(b"".join(store.iter_chunks(info.key))).hexdigest()
                for info in store.list("")}


def populate(as_user: Any, make_case: Any) -> dict[str, Any]:
    """Three cases handled in full and sealed; the second reopened, handled again and
    sealed anew; the third reopened and left open."""
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    cases, photos = [], []
    for _ in range(3):
        case_id = in_hand(office, inspector, make_case)
        photos.append(submit_ready(office, inspector, revisit, case_id,
                                   photo=SAMPLE.read_bytes()))
        answer = approve(office, case_id)
        assert answer.status_code == 200, answer.get_json()
        cases.append(case_id)
    resealed, left_open = cases[1], cases[2]
    walk(office, resealed, ("reopen", params_for("reopen")))
    night_visit(inspector, resealed, value_dba=48.0)
    walk(inspector, resealed, ("submit", params_for("submit")))
    tell_complainant(revisit, resealed)
    plan_if_hard(office, resealed)
    answer = approve(office, resealed)
    assert answer.status_code == 200, answer.get_json()
    walk(office, left_open, ("reopen", params_for("reopen")))
    return {"sealed": cases[:2], "reopened": left_open, "photos": photos}


@contextmanager
def fresh_target(app: Flask, request: pytest.FixtureRequest, base: Path,
                 same_audit_key: bool = True, s3: bool = False) -> Iterator[Flask]:
    """A new instance to restore onto: an empty database and an empty store of the
    source's kind (or, `s3`, an S3 bucket whatever the source's store), given the
    source's keys as an operator would from where they are kept apart (the audit signing
    key only if asked: the public key in the manifest suffices to check the chain)."""
    base.mkdir()
    keys = ["SECRET_KEY", "PERSONAL_DATA_KEY", "WEBHOOK_SECRET_KEY"]
    overrides = {"TESTING": True, "INSTANCE_PATH": str(base),
                 **{k: app.config[k] for k in keys},
                 "AUDIT_SIGNING_KEY": app.config["AUDIT_SIGNING_KEY"] if same_audit_key
                 else secrets.token_hex(32)}
    with ExitStack() as stack:
        if app.config["STACK"] == "scaled":
            overrides["SQLALCHEMY_DATABASE_URI"] = stack.enter_context(fresh_pg_database())
            overrides["STORAGE_URL"] = request.getfixturevalue("seaweed").url(
                f"fc-restore-{secrets.token_hex(4)}")
        else:
            overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{base / 'restored.db'}"
            overrides["STORAGE_URL"] = f"file://{base / 'objects'}"
        if s3:
            overrides["STORAGE_URL"] = request.getfixturevalue("seaweed").url(
                f"fc-restore-{secrets.token_hex(4)}")
        target = create_app(overrides)
        target.config["STACK"] = app.config["STACK"]
        storage = target.extensions["fieldcase.storage"]
        if hasattr(storage, "ensure_bucket"):
            storage.ensure_bucket()
        try:
            yield target
        finally:
            with target.app_context():
                db.session.remove()
                db.engine.dispose()
            storage.close()


def backup(app: Flask, path: Path) -> dict[str, Any]:
    result = run(app, "backup", "--output", str(path))
    assert result.exit_code == 0, result.output
    assert "keys are not in it" in result.output
    with tarfile.open(path) as tar:
        return json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]


def listed(path: Path) -> list[dict[str, Any]]:
    """The archive's list of objects (objects.jsonl), entry by entry."""
    with tarfile.open(path) as tar:
        return [json.loads(line) for line in tar.extractfile("objects.jsonl")]  # type: ignore[union-attr]


def rewrite(src: Path, dst: Path, *, drop: str | None = None, flip: str | None = None,
            new_list: bytes | None = None, extra: dict[str, bytes] | None = None,
            **manifest: Any) -> None:
    """The archive again without the member `drop`, or with one bit of `flip` changed, or
    with these values in its manifest; or with `new_list` as its list of objects and
    the manifest's count, size and hash of it made to match (as a forger would), and the
    members `extra` added before it."""
    with tarfile.open(src) as old, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as new:
        for member in old.getmembers():
            if member.name == drop:
                continue
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == flip:
                data = bytes([data[0] ^ 0x01]) + data[1:]
            if member.name == "objects.jsonl" and new_list is not None:
                for name, content in (extra or {}).items():
                    info = tarfile.TarInfo(name)
                    info.size = len(content)
                    new.addfile(info, io.BytesIO(content))
                data = new_list
                manifest.update(
                    object_count=len(data.splitlines()),
                    object_list={"member": "objects.jsonl", "size": len(data),
                                 "sha256": hashlib.sha256(data).hexdigest()})
            if member.name == "manifest.json" and manifest:
                data = json.dumps({**json.loads(data), **manifest}).encode()
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))


def lines(*entries: Any) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in entries)


def as_format_1(src: Path, dst: Path, **manifest: Any) -> None:
    """The archive as the first format wrote it: every object's entry in manifest.json,
    no list of its own."""
    rewrite(src, dst, drop="objects.jsonl", **{
        "format": "fieldcase-backup/1", "objects": listed(src), **manifest})


def test_the_restore_drill(app, as_user, make_case, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    made = populate(as_user, make_case)
    assert run(app, "checkpoint-audit").exit_code == 0
    source_rows = count_rows(app.config["SQLALCHEMY_DATABASE_URI"])
    source_objects = store_hashes(app)
    archive = tmp_path / "fieldcase.tar"
    manifest = backup(app, archive)

    # What the manifest says: versions, counts, every object's hash, the public key, and
    # no key at all.
    assert manifest["format"] == "fieldcase-backup/2" and manifest["app_version"]
    assert manifest["migration_head"] and manifest["created_at"]
    assert manifest["database"]["tables"] == source_rows
    assert {o["key"]: o["sha256"] for o in listed(archive)} == source_objects
    assert manifest["object_count"] == len(source_objects)
    assert manifest["database"]["tables"]["seals"] == 4 == db.session.scalar(
        sa.select(sa.func.count()).select_from(Seal))
    from server.domain.audit import audit_checkpoints

    assert manifest["keys"]["audit_public_key"] == audit_checkpoints.public_key_hex()
    assert "AUDIT_SIGNING_KEY" in manifest["keys"]["not_included"]
    for name in ("AUDIT_SIGNING_KEY", "PERSONAL_DATA_KEY", "WEBHOOK_SECRET_KEY", "SECRET_KEY"):
        assert app.config[name].encode() not in archive.read_bytes(), name
    checked = run(app, "backup-verify", str(archive))
    assert checked.exit_code == 0 and "intact" in checked.output, checked.output

    # The restore, onto an instance whose own audit key is another one.
    with fresh_target(app, request, tmp_path / "restored", same_audit_key=False) as target:
        result = run(target, "restore", str(archive))
        assert result.exit_code == 0, result.output
        assert f"restored {len(source_objects)} objects" in result.output
        assert "verify-audit --public-key" in result.output  # it says which key to use
        assert count_rows(target.config["SQLALCHEMY_DATABASE_URI"]) == source_rows
        assert store_hashes(target) == source_objects
        for case_id in made["sealed"]:
            verified = run(target, "verify-case", case_id)
            assert verified.exit_code == 0, verified.output
            assert "intact" in verified.output
        assert "2 seal(s)" in run(target, "verify-case", made["sealed"][1]).output
        audit = run(target, "verify-audit", "--public-key",
                    manifest["keys"]["audit_public_key"])
        assert audit.exit_code == 0, audit.output
        assert "matching its signed checkpoints" in audit.output
        # The checkpoints are not taken on trust: another key does not match them.
        assert run(target, "verify-audit").exit_code == 1
        # The reopened case is open again on the restored instance, its seal kept.
        reviewer = target.test_client()
        assert reviewer.post("/api/auth/login", json={
            "username": "reviewer", "password": "correct-horse-battery"}).status_code == 200
        view = reviewer.get(f"/api/cases/{made['reopened']}/seal").get_json()
        assert view["current"] is None and [s["number"] for s in view["seals"]] == [1]

        # Restoring again onto what now holds data is refused, nothing written.
        before = count_rows(target.config["SQLALCHEMY_DATABASE_URI"])
        again = run(target, "restore", str(archive))
        assert again.exit_code == 1
        assert "restore refused: the database is not empty" in again.output
        assert "cases: " in again.output and "Nothing was written" in again.output
        assert count_rows(target.config["SQLALCHEMY_DATABASE_URI"]) == before
        assert store_hashes(target) == source_objects


def test_an_embedded_backup_restores_onto_an_s3_store(  # type: ignore[no-untyped-def]
        app, as_user, make_case, request, tmp_path) -> None:
    """A district on the embedded default moving its photos to an S3 store: the archive
    of SQLite and the local disk, restored onto SQLite and a bucket. The local store keeps
    each object's type beside it, S3 as the object's Content-Type: the restored objects
    keep their bytes and their types, every sealed case verifies, and the photos of the
    restored instance are served from the bucket."""
    if app.config["STACK"] != "embedded":
        pytest.skip("the embedded stack's archive (SQLite and the local disk)")
    made = populate(as_user, make_case)
    source_objects = store_hashes(app)
    archive = tmp_path / "fieldcase.tar"
    manifest = backup(app, archive)
    with fresh_target(app, request, tmp_path / "restored", s3=True) as target:
        result = run(target, "restore", str(archive))
        assert result.exit_code == 0, result.output
        assert store_hashes(target) == source_objects
        for case_id in made["sealed"]:
            verified = run(target, "verify-case", case_id)
            assert verified.exit_code == 0 and "intact" in verified.output, verified.output
        with app.app_context():
            local = app.extensions["fieldcase.storage"]
            types = {key: local.head(key).content_type for key in source_objects}
        with target.app_context():
            bucket = target.extensions["fieldcase.storage"]
            assert {key: bucket.head(key).content_type for key in source_objects} == types
        assert any(t == "image/jpeg" for t in types.values())
        # A photo of the restored instance, from the bucket, by its short-lived link.
        reviewer = target.test_client()
        assert reviewer.post("/api/auth/login", json={
            "username": "reviewer", "password": "correct-horse-battery"}).status_code == 200
        answer = reviewer.get(f"/api/evidence/{made['photos'][0]['id']}")
        assert answer.status_code == 200, answer.get_json()
        url = answer.get_json()["thumbnails"]["small"]["url"]
        import requests

        got = requests.get(url, timeout=30)
        assert got.status_code == 200 and got.content[:2] == b"\xff\xd8", got.text[:200]
    assert manifest["object_count"] == len(source_objects)


def test_every_kind_of_stored_object_is_listed_by_a_new_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`fieldcase backup` runs in a process of its own: every context that stores objects
    has registered its kind by the time the app is made, whatever else was imported."""
    import subprocess
    import sys

    code = ("from server import create_app; from server.domain.core import named_objects; "
            f"create_app({{'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/x.db', "
            f"'STORAGE_URL': 'file://{tmp_path}/o', 'SECRET_KEY': 'x', "
            f"'INSTANCE_PATH': '{tmp_path}'}}); print(sorted(named_objects._LISTERS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == str(
        ["audit checkpoint", "closure file", "evidence", "job result", "seal"])


def test_an_object_the_store_lost_before_the_backup_is_named(  # type: ignore[no-untyped-def]
        app, as_user, make_case, tmp_path, monkeypatch) -> None:
    """A photo lost from the live store before the backup: the archive cannot hold it,
    and its manifest agrees with it, so the restore would not say so. The backup names it
    (and the row kind naming it), keeps the archive, and exits with status 1."""
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    photo = submit_ready(office, inspector, as_user("revisit"), case_id,
                         photo=SAMPLE.read_bytes())
    assert approve(office, case_id).status_code == 200
    backup(app, tmp_path / "whole.tar")  # exit 0: every named object is there
    lost = [final_key(photo["id"]), f"evidence/{photo['id']}/thumb-small.jpg"]
    with app.app_context():
        for key in lost:
            app.extensions["fieldcase.storage"].delete(key)
    archive = tmp_path / "short.tar"
    from server.domain.core import named_objects

    # Rows of the last minutes are not checked (nodes' clocks differ): these are older.
    monkeypatch.setattr(named_objects, "SETTLED", timedelta(0))
    result = run(app, "backup", "--output", str(archive))
    assert result.exit_code == 1, result.output
    for key in lost:
        assert f"object {key} (evidence): named in the database, missing from the store" \
            in result.output
    assert "2 object(s) the database names were not in the store" in result.output
    with tarfile.open(archive) as tar:  # written all the same
        names = tar.getnames()
    assert "manifest.json" in names and f"objects/{lost[0]}" not in names


def test_a_backup_missing_or_changing_an_object_is_named(  # type: ignore[no-untyped-def]
        app, as_user, make_case, request, tmp_path) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    photo = submit_ready(office, inspector, as_user("revisit"), case_id,
                         photo=SAMPLE.read_bytes())
    assert approve(office, case_id).status_code == 200
    archive = tmp_path / "whole.tar"
    backup(app, archive)
    lost, changed = final_key(photo["id"]), f"evidence/{photo['id']}/thumb-small.jpg"
    assert {lost, changed} <= set(store_hashes(app))
    short = tmp_path / "short.tar"
    rewrite(archive, short, drop=f"objects/{lost}", flip=f"objects/{changed}")

    checked = run(app, "backup-verify", str(short))
    assert checked.exit_code == 1
    assert f"object {lost}: listed in the manifest but missing from the archive" \
        in checked.output
    assert f"object {changed}: sha256 " in checked.output
    assert "2 problem(s) in the archive, 1 missing from the archive" in checked.output
    assert run(app, "restore", "--check", str(short)).exit_code == 1

    with fresh_target(app, request, tmp_path / "t1") as target:
        refused = run(target, "restore", str(short))
        assert refused.exit_code == 1
        assert f"object {lost}: listed in the manifest but missing" in refused.output
        assert "nothing was restored" in refused.output
        # Nothing written: no row, no object.
        assert not any(count_rows(target.config["SQLALCHEMY_DATABASE_URI"]).values())
        assert store_hashes(target) == {}
        # --partial restores the rest, names both, and the case's check names the photo.
        partial = run(target, "restore", "--partial", str(short))
        assert partial.exit_code == 1
        assert f"object {lost}: listed in the manifest but missing" in partial.output
        assert f"object {changed}: sha256 " in partial.output
        restored = store_hashes(target)
        assert lost not in restored and changed not in restored  # a changed one is removed
        assert len(restored) == len(store_hashes(app)) - 2
        found = run(target, "verify-case", case_id)
        assert found.exit_code == 1 and photo["id"] in found.output

    # A database that holds data refuses the archive, and so does a store that does.
    before_rows = count_rows(app.config["SQLALCHEMY_DATABASE_URI"])
    before_objects = store_hashes(app)
    onto_source = run(app, "restore", str(archive))
    assert onto_source.exit_code == 1
    assert "restore refused: the database is not empty" in onto_source.output
    assert count_rows(app.config["SQLALCHEMY_DATABASE_URI"]) == before_rows
    assert store_hashes(app) == before_objects
    with fresh_target(app, request, tmp_path / "t2") as target:
        target.extensions["fieldcase.storage"].put_bytes("left/over", b"x",
                                                         content_type="text/plain")
        refused = run(target, "restore", str(archive))
        assert refused.exit_code == 1
        assert "the object store is not empty (it holds left/over" in refused.output
        assert not any(count_rows(target.config["SQLALCHEMY_DATABASE_URI"]).values())
        target.extensions["fieldcase.storage"].delete("left/over")
        # An archive made by a newer schema than this code knows is refused too.
        newer = tmp_path / "newer.tar"
        rewrite(archive, newer, migration_head="9999")
        refused = run(target, "restore", str(newer))
        assert refused.exit_code == 1
        assert "at migration 9999, which this version of Fieldcase does not know" \
            in refused.output
        assert store_hashes(target) == {}


def test_the_sqlite_snapshot_is_one_moment_and_writers_go_on(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The online backup API under WAL: a writer in the middle of a transaction neither
    blocks the snapshot nor leaks into it, and commits afterwards."""
    import sqlite3

    from server.backup.databases import snapshot

    path = tmp_path / "live.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (n INTEGER)")
    setup.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    setup.commit()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the app's write lock, held
    writer.execute("INSERT INTO t VALUES (-1)")
    work = tmp_path / "work"
    work.mkdir()
    with snapshot(f"sqlite:///{path}", work) as snap:
        assert snap.tables == {"t": 100} and snap.migration_head is None
        writer.execute("COMMIT")  # the writer was never in the way, nor waited
        copy = sqlite3.connect(snap.path)
        assert copy.execute("SELECT count(*), min(n) FROM t").fetchone() == (100, 0)
        copy.close()
    assert setup.execute("SELECT count(*) FROM t").fetchone() == (101,)
    writer.close()
    setup.close()


def test_without_pg_dump_a_postgresql_backup_says_what_to_do(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from server.backup import BackupError, databases

    monkeypatch.setattr(databases.shutil, "which", lambda _name: None)
    with pytest.raises(BackupError) as refused, \
            databases.snapshot("postgresql+psycopg://fieldcase@db.invalid/fieldcase", tmp_path):
        pass
    assert "pg_dump is not installed" in str(refused.value)
    assert "postgresql-client" in str(refused.value)
    assert 'README, "Backup and restore"' in str(refused.value)


def _relative_app(base: Path, **extra: Any) -> Flask:
    return create_app({"TESTING": True, "INSTANCE_PATH": str(base),
                       "SQLALCHEMY_DATABASE_URI": "sqlite:///rel.db",
                       "STORAGE_URL": f"file://{base / 'objects'}", **extra})


def _empty_source(base: Path, *objects: tuple[str, bytes]) -> Flask:
    """A relative-path instance with its tables made (no rows) and these objects stored."""
    source = _relative_app(base)
    with source.app_context():
        db.create_all()
        db.engine.dispose()
    for key, data in objects:
        source.extensions["fieldcase.storage"].put_bytes(key, data, content_type="text/plain")
    return source


def test_a_relative_sqlite_url_backs_up_and_restores_the_file_the_app_uses(  # type: ignore[no-untyped-def]
        tmp_path, monkeypatch) -> None:
    """sqlite:///rel.db is the instance folder's rel.db to Flask-SQLAlchemy; backup and
    restore must read and write that file, not one in the working directory."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    source = _relative_app(tmp_path / "src")
    with source.app_context():
        db.create_all()
        db.session.execute(sa.text("CREATE TABLE marker (n INTEGER)"))
        db.session.execute(sa.text("INSERT INTO marker VALUES (1), (2), (3)"))
        db.session.commit()
    assert (tmp_path / "src" / "rel.db").exists()
    archive = tmp_path / "rel.tar"
    made = backup(source, archive)
    assert made["database"]["tables"]["marker"] == 3
    keys = {k: source.config[k] for k in ("SECRET_KEY", "PERSONAL_DATA_KEY",
                                          "WEBHOOK_SECRET_KEY", "AUDIT_SIGNING_KEY")}
    target = _relative_app(tmp_path / "dst", **keys)
    restored = run(target, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert not (elsewhere / "rel.db").exists()
    with target.app_context():
        assert db.session.execute(sa.text("SELECT count(*) FROM marker")).scalar_one() == 3
        db.session.remove()
        db.engine.dispose()
    with source.app_context():
        db.engine.dispose()


def test_a_bad_key_in_the_manifest_is_refused_before_anything_is_written(  # type: ignore[no-untyped-def]
        tmp_path) -> None:
    """A forged manifest listing `../outside.txt` after a good key: backup-verify names it,
    restore refuses it with the store still empty (so a retry is not refused)."""
    source = _empty_source(tmp_path / "src", ("a/good.txt", b"good"))
    archive = tmp_path / "good.tar"
    backup(source, archive)
    evil = b"evil"
    forged = tmp_path / "forged.tar"
    rewrite(archive, forged, extra={"objects/../outside.txt": evil}, new_list=lines(
        *listed(archive), {"key": "../outside.txt", "size": len(evil),
                           "sha256": hashlib.sha256(evil).hexdigest(),
                           "content_type": "text/plain"}))

    checked = run(source, "backup-verify", str(forged))
    assert checked.exit_code == 1
    assert "'../outside.txt'" in checked.output and "not valid" in checked.output
    keys = {k: source.config[k] for k in ("SECRET_KEY", "PERSONAL_DATA_KEY",
                                          "WEBHOOK_SECRET_KEY", "AUDIT_SIGNING_KEY")}
    target = _relative_app(tmp_path / "dst", **keys)
    refused = run(target, "restore", str(forged))
    assert refused.exit_code == 1
    assert "'../outside.txt'" in refused.output and "Nothing was written" in refused.output
    assert not isinstance(refused.exception, ValueError)
    assert store_hashes(target) == {}
    assert not (tmp_path / "dst" / "outside.txt").exists()
    assert not (tmp_path / "dst" / "rel.db").exists()
    # The good archive still restores onto that target: nothing was left to refuse it.
    assert run(target, "restore", str(archive)).exit_code == 0
    assert set(store_hashes(target)) == {"a/good.txt"}


GOOD = {"key": "a/good.txt", "size": 4, "sha256": hashlib.sha256(b"good").hexdigest(),
        "content_type": "text/plain"}


@pytest.mark.parametrize("damage", [
    {"object_count": "many"},
    {"object_list": {"member": "../objects.jsonl", "size": 1, "sha256": "x"}},
    {"object_list": {"member": "objects.jsonl", "size": 1, "sha256": "x"}},
    {"new_list": b"not json\n"},
    {"new_list": lines(["a/good.txt"])},
    {"new_list": lines(GOOD, GOOD)},
    {"format_1": {"objects": "all of them"}},
    {"format_1": {"objects": ["a/good.txt"]}},
    {"format_1": {"objects": [GOOD, GOOD]}},
    {"migration_head": 7},
    {"database": {"member": "database/..", "size": 1, "sha256": "x", "tables": {}}},
    {"keys": ["not", "a", "dict"]},
], ids=["count-not-a-number", "list-member-elsewhere", "list-hash-not-its-own",
        "list-line-not-json", "list-entry-not-an-entry", "list-key-twice",
        "v1-objects-not-a-list", "v1-object-not-an-entry", "v1-key-twice",
        "migration-not-text", "database-member-a-folder", "keys-not-a-dict"])
def test_a_damaged_manifest_is_refused_in_words(tmp_path, damage) -> None:  # type: ignore[no-untyped-def]
    """A manifest or a list of objects not shaped as a backup writes them is refused with
    its fault named and nothing written: never a traceback, and never a database member
    unpacked as `..`. In both formats."""
    source = _empty_source(tmp_path / "src", ("a/good.txt", b"good"))
    archive, damaged = tmp_path / "good.tar", tmp_path / "damaged.tar"
    backup(source, archive)
    if "format_1" in damage:
        as_format_1(archive, damaged, **damage["format_1"])
    else:
        rewrite(archive, damaged, **damage)
    target = _relative_app(tmp_path / "dst")
    for command in (["backup-verify", str(damaged)], ["restore", str(damaged)]):
        refused = run(target, *command)
        assert refused.exit_code == 1, refused.output
        assert isinstance(refused.exception, SystemExit), refused.exception
        assert "damaged or forged" in refused.output
    assert store_hashes(target) == {}
    assert not (tmp_path / "dst" / "rel.db").exists()


def test_an_archive_of_the_first_format_still_verifies_and_restores(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Archives made before the list of objects had its own member (every entry inside
    manifest.json) are read as they were: checked, an object missing from one named, and
    restored."""
    source = _empty_source(tmp_path / "src", ("a/one.txt", b"one"), ("b/two.txt", b"two"))
    archive, first, short = tmp_path / "now.tar", tmp_path / "first.tar", tmp_path / "short.tar"
    backup(source, archive)
    as_format_1(archive, first)
    with tarfile.open(first) as tar:
        assert "objects.jsonl" not in tar.getnames()
    checked = run(source, "backup-verify", str(first))
    assert checked.exit_code == 0 and "intact; 2 objects" in checked.output, checked.output
    rewrite(first, short, drop="objects/b/two.txt")
    checked = run(source, "backup-verify", str(short))
    assert checked.exit_code == 1
    assert "object b/two.txt: listed in the manifest but missing" in checked.output
    keys = {k: source.config[k] for k in ("SECRET_KEY", "PERSONAL_DATA_KEY",
                                          "WEBHOOK_SECRET_KEY", "AUDIT_SIGNING_KEY")}
    target = _relative_app(tmp_path / "dst", **keys)
    restored = run(target, "restore", str(first))
    assert restored.exit_code == 0, restored.output
    assert store_hashes(target) == store_hashes(source)


def test_a_member_the_list_does_not_name_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An object member that the list of objects does not name (added to the archive
    after it was made) is named by backup-verify, and not restored."""
    source = _empty_source(tmp_path / "src", ("a/one.txt", b"one"))
    archive, padded = tmp_path / "now.tar", tmp_path / "padded.tar"
    backup(source, archive)
    rewrite(archive, padded, extra={"objects/a/planted.txt": b"planted"},
            new_list=lines(*listed(archive)))
    checked = run(source, "backup-verify", str(padded))
    assert checked.exit_code == 1
    assert "member objects/a/planted.txt: in the archive but not in the manifest" \
        in checked.output
    keys = {k: source.config[k] for k in ("SECRET_KEY", "PERSONAL_DATA_KEY",
                                          "WEBHOOK_SECRET_KEY", "AUDIT_SIGNING_KEY")}
    target = _relative_app(tmp_path / "dst", **keys)
    assert run(target, "restore", str(padded)).exit_code == 0
    assert set(store_hashes(target)) == {"a/one.txt"}


def test_an_unknown_key_check_in_the_manifest_is_ignored_after_a_restore(  # type: ignore[no-untyped-def]
        tmp_path) -> None:
    """The archive names the keys whose check values it carries; a name it makes up is
    no setting here, and must not crash the restore once it has written everything (the
    operator would never see its findings)."""
    source = _empty_source(tmp_path / "src", ("a/good.txt", b"good"))
    archive, odd = tmp_path / "good.tar", tmp_path / "odd.tar"
    made = backup(source, archive)
    rewrite(archive, odd, keys={**made["keys"], "checks": {"NOPE": "x",
                                                           **made["keys"]["checks"]}})
    target = _relative_app(tmp_path / "dst")
    restored = run(target, "restore", str(odd))
    assert restored.exit_code == 0, (restored.output, restored.exception)
    assert "NOPE" not in restored.output
    assert set(store_hashes(target)) == {"a/good.txt"}


def test_the_archive_is_private_and_the_key_note_points_to_the_auditors_copy(  # type: ignore[no-untyped-def]
        tmp_path) -> None:
    import os

    source = _empty_source(tmp_path / "src")
    archive = tmp_path / "private.tar"
    old = os.umask(0o022)
    try:
        made = backup(source, archive)
    finally:
        os.umask(old)
    assert archive.stat().st_mode & 0o777 == 0o600
    assert "auditors' own copy" in made["keys"]["note"]
    keys = {k: source.config[k] for k in ("SECRET_KEY", "PERSONAL_DATA_KEY",
                                          "WEBHOOK_SECRET_KEY")}
    target = _relative_app(tmp_path / "dst", AUDIT_SIGNING_KEY=secrets.token_hex(32), **keys)
    restored = run(target, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "verify-audit --public-key <the auditors' copy of the key>" in restored.output
    assert f"verify-audit --public-key {made['keys']['audit_public_key']}" \
        not in restored.output


def test_a_restore_failing_half_way_says_how_to_try_again(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Objects written, then the database load fails: the message says to empty the new
    store before the next attempt, which that attempt would otherwise refuse."""
    import sqlite3

    from server.backup import archive as archive_module

    source = _empty_source(tmp_path / "src", ("a/one.txt", b"one"))
    archive = tmp_path / "whole.tar"
    backup(source, archive)
    keys = {k: source.config[k] for k in ("SECRET_KEY", "PERSONAL_DATA_KEY",
                                          "WEBHOOK_SECRET_KEY", "AUDIT_SIGNING_KEY")}
    target = _relative_app(tmp_path / "dst", **keys)

    def full_disk(_url: str, _dump: Path) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(archive_module, "restore_database", full_disk)
    failed = run(target, "restore", str(archive))
    assert failed.exit_code == 1 and isinstance(failed.exception, SystemExit)
    assert "database or disk is full" in failed.output
    assert "1 object(s) were already written" in failed.output
    assert "empty the new bucket or folder (STORAGE_URL)" in failed.output
    assert set(store_hashes(target)) == {"a/one.txt"}
    monkeypatch.undo()
    # Doing what it says lets the next attempt through.
    assert "the object store is not empty" in run(target, "restore", str(archive)).output
    target.extensions["fieldcase.storage"].delete("a/one.txt")
    assert run(target, "restore", str(archive)).exit_code == 0
