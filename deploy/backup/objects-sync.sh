#!/bin/sh
# The object store (photos, recordings, seal manifests, closure files, the audit
# checkpoints' copies) to a second bucket in another place, after pg-dump.sh. Objects
# are written once under new keys, so `copy` (never `sync`, which would carry a deletion
# or a ransomware's overwrite across) keeps every version the dumps may name.
# rclone remotes `live` and `offsite` are set up in rclone.conf (rclone config);
# aws-cli does the same: aws s3 cp --recursive s3://fieldcase-evidence s3://fieldcase-copy
# Better still: bucket versioning with a lifecycle rule (see README, "Backup and restore").
set -eu
SOURCE=${SOURCE:-live:fieldcase-evidence}
TARGET=${TARGET:-offsite:fieldcase-evidence-copy}
rclone copy --checksum --transfers 8 --exclude 'staging/**' "$SOURCE" "$TARGET"
# The signed audit checkpoints once more, apart, into a write-once (object lock) bucket:
# a restored audit log is checked against them (verify-audit --public-key).
rclone copy --checksum "$SOURCE/audit/checkpoints" "${CHECKPOINTS_TO:-worm:fieldcase-checkpoints}"
