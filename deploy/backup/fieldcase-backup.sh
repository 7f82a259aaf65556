#!/bin/sh
# Small sites (the embedded SQLite default, or PostgreSQL with up to some tens of GB of
# photos): one archive a night of the database and every object (`fieldcase backup`:
# SQLite's online backup API or pg_dump, with the objects and a manifest of hashes),
# checked at once (`fieldcase backup-verify`), older archives removed. Keys are not in
# it: keep AUDIT_SIGNING_KEY, PERSONAL_DATA_KEY and WEBHOOK_SECRET_KEY in the secrets
# manager. Copy BACKUP_DIR off the machine (COPY_TO, an rclone remote), or it does not
# survive the machine.
set -eu
BACKUP_DIR=${BACKUP_DIR:-/var/backups/fieldcase}
KEEP_DAYS=${KEEP_DAYS:-14}
FIELDCASE=${FIELDCASE:-/srv/fieldcase/.venv/bin/fieldcase}
COPY_TO=${COPY_TO:-}            # e.g. offsite:fieldcase-backups (rclone remote:path)

umask 077
mkdir -p "$BACKUP_DIR"
out="$BACKUP_DIR/fieldcase-$(date -u +%Y%m%dT%H%M%SZ).tar"
"$FIELDCASE" backup --output "$out"          # written as .partial, renamed when whole
"$FIELDCASE" backup-verify "$out"            # every object against the manifest
if [ -n "$COPY_TO" ]; then
    rclone copy --checksum "$out" "$COPY_TO/"
fi
find "$BACKUP_DIR" -maxdepth 1 -name 'fieldcase-*.tar' -mtime +"$KEEP_DAYS" -delete
