#!/bin/sh
# PostgreSQL on its own (the objects are copied by objects-sync.sh or kept by bucket
# versioning): a custom-format pg_dump a night, kept KEEP_DAYS. Run it BEFORE the objects'
# copy: every object a dumped row names was stored before the row was committed, so a
# copy taken after the dump holds them all (a newer object is harmless, reconcile clears
# staging leftovers). pg_dump takes one consistent snapshot while the app keeps serving.
# Connection: the usual libpq variables or ~/.pgpass (never a password on the command
# line). The pg_dump must be of the server's major version or newer.
set -eu
BACKUP_DIR=${BACKUP_DIR:-/var/backups/fieldcase}
KEEP_DAYS=${KEEP_DAYS:-14}
PGDATABASE=${PGDATABASE:-fieldcase}
export PGDATABASE

umask 077
mkdir -p "$BACKUP_DIR"
out="$BACKUP_DIR/fieldcase-$(date -u +%Y%m%dT%H%M%SZ).pgdump"
pg_dump --format=custom --no-owner --no-privileges --file="$out.partial"
pg_restore --list "$out.partial" > /dev/null   # readable to the end
mv "$out.partial" "$out"
find "$BACKUP_DIR" -maxdepth 1 -name 'fieldcase-*.pgdump' -mtime +"$KEEP_DAYS" -delete
