"""The archive ZIP (存档备查): originals, manifest, closure file, README and SHA256SUMS.

Anyone can check it with standard tools: `sha256sum -c SHA256SUMS` (Linux), `shasum -a 256
-c SHA256SUMS` (macOS), `certutil -hashfile FILE SHA256` (Windows). Entries are streamed
chunk by chunk (an archive of a batch of cases can be far larger than memory should hold),
and every timestamp and attribute is fixed, so the same entries give the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["README_NAME", "SUMS_NAME", "AlteredEntry", "ArchiveEntry", "archive_readme",
           "safe_name", "write_archive"]

log = logging.getLogger(__name__)

README_NAME = "README.txt"
SUMS_NAME = "SHA256SUMS"
# 1980-01-01, the earliest a ZIP can say: a fixed time keeps equal archives equal bytes.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Already compressed: deflating them again costs CPU and saves nothing.
STORED_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".gif",
    ".docx", ".xlsx", ".pdf", ".zip", ".gz",
    ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".mp4", ".mov", ".amr", ".3gp", ".webm",
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ArchiveEntry:
    name: str  # path inside the ZIP, "/"-separated, e.g. "案件-123/originals/IMG_1.jpg"
    chunks: Callable[[], Iterable[bytes]]  # called once, when the entry is written
    # The hash on record (the seal's manifest). SHA256SUMS lists this one, so stored bytes
    # that no longer match their record fail `sha256sum -c` for whoever checks the archive.
    # None: the hash of the bytes as written.
    sha256: str | None = None


class AlteredEntry(Exception):
    """An entry's bytes, hashed as they streamed in, differ from the hash on record: the
    archive must not be handed out (the caller records the security event)."""

    def __init__(self, name: str, recorded: str, actual: str) -> None:
        super().__init__(f"archive entry {name}: bytes hash {actual}, record says {recorded}")
        self.name, self.recorded, self.actual = name, recorded, actual


def write_archive(out: BinaryIO, entries: Iterable[ArchiveEntry], readme: str) -> None:
    """Write the ZIP to `out`: README.txt, each entry in order, then SHA256SUMS.

    `out` need not be seekable (a ZIP written to a pipe uses data descriptors instead).
    ValueError for a name that is unsafe to extract, reserved, duplicated or unlistable;
    AlteredEntry as soon as an entry's bytes differ from its recorded hash (`out` then
    holds a partial archive the caller discards).
    """
    sums: list[tuple[str, str]] = []
    seen = {README_NAME, SUMS_NAME}
    with zipfile.ZipFile(out, "w") as zf:
        # Windows' Notepad of older releases needs the BOM to read UTF-8; CRLF for the same.
        text = "\ufeff" + readme.replace("\r\n", "\n").replace("\n", "\r\n")
        readme_bytes = text.encode("utf-8")
        sums.append((_write(zf, README_NAME, [readme_bytes]), README_NAME))
        for entry in entries:
            name = _checked_name(entry.name)
            if name in seen:
                raise ValueError(f"archive entry name used twice or reserved: {name!r}")
            seen.add(name)
            actual = _write(zf, name, entry.chunks())
            recorded = entry.sha256.lower() if entry.sha256 else actual
            if not _SHA256.fullmatch(recorded):
                raise ValueError(f"not a SHA-256 hex digest for {name!r}: {entry.sha256!r}")
            if recorded != actual:
                log.warning("archive entry %s: bytes hash %s, record says %s", name, actual,
                            recorded)
                raise AlteredEntry(name, recorded, actual)
            sums.append((recorded, name))
        listing = "".join(f"{digest}  {name}\n" for digest, name in sums)
        _write(zf, SUMS_NAME, [listing.encode("utf-8")])


def _write(zf: zipfile.ZipFile, name: str, chunks: Iterable[bytes]) -> str:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.create_system = 3  # Unix, so the mode below is read as permissions
    info.external_attr = 0o644 << 16
    stored = name.lower().endswith(STORED_SUFFIXES)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    digest = hashlib.sha256()
    # No force_zip64: one entry stays far under 2 GiB (MAX_UPLOAD_BYTES); the archive as a
    # whole may pass 4 GiB and zipfile then adds the ZIP64 end records by itself.
    with zf.open(info, "w") as dest:
        for chunk in chunks:
            digest.update(chunk)
            dest.write(chunk)
    return digest.hexdigest()


# Windows refuses these as a file's name, whatever follows a dot (NUL.txt, COM1.json).
_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3])"
                       r"(\..*)?", re.IGNORECASE)
# Not allowed in a Windows file name, or read as a path or a drive.
_FORBIDDEN = frozenset('\\:*?"<>|')
MAX_SLUG = 48


def safe_name(text: str, max_len: int = MAX_SLUG) -> str:
    """A piece of a file name made from free text (a platform's case number): letters and
    digits of every script kept (中文 too), runs of anything else (separators, dots,
    control and direction characters, spaces) one "-", at most `max_len` characters. May
    be empty: the caller adds what makes the name unique (a case id)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text):
        # Letters, digits and the combining marks some scripts write words with.
        keep = unicodedata.category(ch)[0] in "LNM" or ch == "_"
        out.append(ch if keep else "-")
    slug = re.sub(r"-{2,}", "-", "".join(out)).strip("-_")
    return slug[:max_len].rstrip("-_")


def _checked_name(name: str) -> str:
    # What extracts safely everywhere (Linux, macOS, Windows) and can stand on a
    # SHA256SUMS line unescaped: callers name entries with safe_name, this is the guard.
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or any(part in ("", ".", "..") or _RESERVED.fullmatch(part)
               or part.endswith((".", " ")) for part in parts)
        or any(ch in _FORBIDDEN or unicodedata.category(ch) in ("Cc", "Cf") for ch in name)
    ):
        raise ValueError(f"unsafe archive entry name: {name!r}")
    return name


def archive_readme(title: str, lines: Iterable[str] = ()) -> str:
    """A bilingual README: `title`, the caller's `lines` (what the archive holds), then how
    to check every file against SHA256SUMS with standard tools."""
    body = "\n".join(lines)
    return f"""{title}
{body}

【如何核验文件是否被改动】
本压缩包中每个文件的 SHA-256 哈希值列在 SHA256SUMS 文件中（每行：哈希值、两个空格、文件名）。
证据原件的哈希值即案件封存清单（manifest）中记录的值。解压后在解压目录中执行：
  Linux：    sha256sum -c SHA256SUMS
  macOS：    shasum -a 256 -c SHA256SUMS
每个文件显示“OK”（或“成功”）即与记录一致；显示“FAILED”（或“失败”）即该文件已被改动。
  Windows：  certutil -hashfile 文件名 SHA256
            （或 PowerShell：Get-FileHash 文件名 -Algorithm SHA256）
将显示的哈希值与 SHA256SUMS 中该文件的一行对照，大小写不影响，完全一致即未被改动。
照片还可扫描办结材料中的二维码，或在核验页输入短码，上传照片文件核对。

[How to check that no file was changed]
SHA256SUMS lists the SHA-256 hash of every file in this archive (one line each: the hash,
two spaces, the file name). For the evidence originals it is the hash recorded in the
case's seal manifest. Unpack the archive, then in the unpacked folder run:
  Linux:    sha256sum -c SHA256SUMS
  macOS:    shasum -a 256 -c SHA256SUMS
Each file should say OK; FAILED means that file was changed.
  Windows:  certutil -hashfile FILENAME SHA256
            (or in PowerShell: Get-FileHash FILENAME -Algorithm SHA256)
and compare the hash shown with that file's line in SHA256SUMS (case does not matter).
A photo can also be checked by scanning its QR code in the closure file, or by entering its
short code on the verify page and uploading the photo file.
"""
