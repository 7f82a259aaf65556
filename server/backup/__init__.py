"""Backup and restore: one archive holding a consistent database snapshot and every
object of the store, with a manifest (`fieldcase backup`, `restore`, `backup-verify`).

Below the CLI and beside storage: it knows databases by URL and the store by its
interface, never the app's models or domain (the CLI adds what the manifest says about
keys)."""

from __future__ import annotations

from .archive import (
    FORMAT,
    MANIFEST,
    Finding,
    RestoreReport,
    check_archive,
    make_backup,
    read_manifest,
    restore,
)
from .databases import BackupError
from .keyindex import KeyIndex

__all__ = ["FORMAT", "MANIFEST", "BackupError", "Finding", "KeyIndex", "RestoreReport",
           "check_archive", "make_backup", "read_manifest", "restore"]
