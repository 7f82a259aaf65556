"""The archive ZIP written, reopened and checked: every SHA256SUMS line against the
entries, and the real `sha256sum -c` in an unpacked copy."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import shutil
import subprocess
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from server.reports.archive import (
    FIXED_TIME,
    README_NAME,
    SUMS_NAME,
    AlteredEntry,
    ArchiveEntry,
    archive_readme,
    write_archive,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "photos"
PHOTOS = ("gps/DSCN0010.jpg", "phones/iphone_hdr_NO.jpg")
SUMS_LINE = r"[0-9a-f]{64}  \S.*"


def file_chunks(path: Path, size: int = 64 * 1024) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(size):
            yield chunk


def entries(calls: list[str] | None = None) -> list[ArchiveEntry]:
    """Originals streamed from disk with their recorded hashes, a manifest and a closure
    file with none (hashed as written), under Chinese folder names."""
    manifest = json.dumps({"case": "C-2024-0001", "evidence": PHOTOS}, ensure_ascii=False)

    def streamed(path: Path) -> ArchiveEntry:
        def chunks() -> Iterator[bytes]:
            if calls is not None:
                calls.append(path.name)
            yield from file_chunks(path)

        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return ArchiveEntry(f"C-2024-0001/原件/{path.name}", chunks, digest.upper())

    return [
        *(streamed(SAMPLES / name) for name in PHOTOS),
        ArchiveEntry("C-2024-0001/封存清单 manifest.json", lambda: [manifest.encode()], None),
        ArchiveEntry("C-2024-0001/办结材料.pdf", lambda: [b"%PDF-1.7\n", b"x" * 5000], None),
        ArchiveEntry("C-2024-0001/empty.txt", lambda: [], None),
    ]


README = archive_readme("环境信访案件存档 / Case archive", ["案件 C-2024-0001", "Case C-2024-0001"])


def write(out: BinaryIO) -> None:
    write_archive(out, entries(), README)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.zip"
    with path.open("wb") as out:
        write(out)
    return path


def test_sums_list_every_entry_and_match_the_bytes(archive: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names[0] == README_NAME and names[-1] == SUMS_NAME
        lines = zf.read(SUMS_NAME).decode("utf-8").splitlines()
        assert all(re.fullmatch(SUMS_LINE, line) for line in lines), lines
        listed = dict(reversed(line.split("  ", 1)) for line in lines)
        assert sorted(listed) == sorted(n for n in names if n != SUMS_NAME)
        for name, digest in listed.items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest, name
        for name in PHOTOS:  # the originals, byte for byte
            stem = Path(name).name
            assert zf.read(f"C-2024-0001/原件/{stem}") == (SAMPLES / name).read_bytes()


def test_entries_have_fixed_times_and_fitting_compression(archive: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert {i.date_time for i in infos.values()} == {FIXED_TIME}
    assert {i.external_attr >> 16 for i in infos.values()} == {0o644}
    jpeg = infos["C-2024-0001/原件/DSCN0010.jpg"]
    assert jpeg.compress_type == zipfile.ZIP_STORED
    assert infos["C-2024-0001/封存清单 manifest.json"].compress_type == zipfile.ZIP_DEFLATED
    assert infos[README_NAME].compress_type == zipfile.ZIP_DEFLATED
    assert infos["C-2024-0001/办结材料.pdf"].flag_bits & 0x800  # UTF-8 names flagged


def test_sha256sum_checks_the_unpacked_archive(archive: Path, tmp_path: Path) -> None:
    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        pytest.skip("coreutils sha256sum not installed")
    dest = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest)
    ok = subprocess.run([sha256sum, "-c", SUMS_NAME], cwd=dest, capture_output=True, text=True,
                        check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(": OK") == 6  # README, 2 originals, manifest, closure file, empty
    # One byte changed in one original: the standard tool says which.
    photo = dest / "C-2024-0001" / "原件" / "DSCN0010.jpg"
    data = bytearray(photo.read_bytes())
    data[1000] ^= 0x01
    photo.write_bytes(bytes(data))
    bad = subprocess.run([sha256sum, "-c", SUMS_NAME], cwd=dest, capture_output=True, text=True,
                         check=False)
    assert bad.returncode != 0
    assert "C-2024-0001/原件/DSCN0010.jpg: FAILED" in bad.stdout


def test_same_input_gives_the_same_bytes(archive: Path) -> None:
    again = io.BytesIO()
    write(again)
    assert again.getvalue() == archive.read_bytes()


class _Pipe(io.RawIOBase):
    """A write-only stream that cannot seek, like a response body or a socket."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        self.data += b
        return len(b)


def test_unseekable_output_gives_a_valid_archive(archive: Path) -> None:
    pipe = _Pipe()
    write(pipe)  # type: ignore[arg-type]
    with zipfile.ZipFile(io.BytesIO(bytes(pipe.data))) as streamed, zipfile.ZipFile(archive) as zf:
        assert streamed.testzip() is None
        assert streamed.namelist() == zf.namelist()
        for name in zf.namelist():
            assert streamed.read(name) == zf.read(name)


def test_entries_are_read_one_at_a_time_in_order() -> None:
    calls: list[str] = []
    items = entries(calls)
    assert calls == []  # nothing read while the list is made
    write_archive(io.BytesIO(), iter(items), README)
    assert calls == [Path(name).name for name in PHOTOS]


def test_a_large_entry_is_streamed_not_held(tmp_path: Path) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB

    def big() -> Iterator[bytes]:
        for _ in range(48):
            yield chunk

    tracemalloc.start()
    try:
        with (tmp_path / "big.zip").open("wb") as out:
            write_archive(out, [ArchiveEntry("recording.m4a", big)], README)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # 48 MiB went through
    with zipfile.ZipFile(tmp_path / "big.zip") as zf:
        assert zf.getinfo("recording.m4a").file_size == 48 * len(chunk)


def test_a_record_that_differs_from_the_bytes_stops_the_archive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 19: altered bytes are no longer archived beside their record (to fail
    `sha256sum -c` later): the archive stops, and its caller records a security event."""
    recorded = hashlib.sha256(b"what was sealed").hexdigest()
    path = tmp_path / "a.zip"
    with caplog.at_level(logging.WARNING), path.open("wb") as out, \
            pytest.raises(AlteredEntry) as stopped:
        write_archive(out, [ArchiveEntry("photo.jpg", lambda: [b"what is stored"], recorded)],
                      README)
    assert "photo.jpg" in caplog.text
    assert (stopped.value.name, stopped.value.recorded) == ("photo.jpg", recorded)
    assert stopped.value.actual == hashlib.sha256(b"what is stored").hexdigest()


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a//b", "a\\b.txt", "C:x",
                                  "a/./b", "line\nbreak", "", README_NAME, SUMS_NAME])
def test_unsafe_or_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        write_archive(io.BytesIO(), [ArchiveEntry(name, lambda: [b"x"])], README)


def test_duplicate_names_and_bad_hashes_are_refused() -> None:
    twice = [ArchiveEntry("a.txt", lambda: [b"1"]), ArchiveEntry("a.txt", lambda: [b"2"])]
    with pytest.raises(ValueError, match="twice"):
        write_archive(io.BytesIO(), twice, README)
    with pytest.raises(ValueError, match="SHA-256"):
        write_archive(io.BytesIO(), [ArchiveEntry("a.txt", lambda: [b"1"], "abc")], README)


def test_readme_is_bilingual_and_names_the_standard_tools(archive: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        raw = zf.read(README_NAME)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for older Windows editors
    text = raw.decode("utf-8-sig")
    for needle in ("sha256sum -c SHA256SUMS", "shasum -a 256 -c SHA256SUMS",
                   "certutil -hashfile", "Get-FileHash", "案件 C-2024-0001"):
        assert needle in text, needle
    assert text.index("如何核验") < text.index("How to check")  # Chinese first
    assert "\r\n" in text
