#!/bin/sh
# Entry point of every Lintel image. Secrets arrive as files (compose
# secrets, mounted Kubernetes Secrets): VAR_FILE=/path sets VAR to the
# file's content, trailing newlines dropped, for the variables Lintel reads
# (LINTEL_*) and libpq's PGPASSWORD. Then the command replaces this shell.
set -eu
for var in $(env | sed -n 's/^\(LINTEL_[A-Z0-9_]*\|PGPASSWORD\)_FILE=.*/\1/p'); do
    eval "file=\${${var}_FILE}"
    if [ ! -r "$file" ]; then
        echo "lintel-entrypoint: ${var}_FILE: cannot read $file" >&2
        exit 2
    fi
    value=$(cat "$file")
    export "$var=$value"
    unset "${var}_FILE"
done
exec "$@"
