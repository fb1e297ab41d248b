#!/bin/bash
# Entrypoint of the end-to-end test's PostgreSQL 17 image (Dockerfile next to
# this file). On an empty data directory: initdb, the superuser's and the
# application user's passwords, the application database, then the scripts
# in /docker-entrypoint-initdb.d (*.sql, *.sql.gz, *.sh), as Bitnami's and
# the official images do. Then, every start: postgres in the foreground
# (exec, so it gets the container's stop signal), on port 5432 of every
# address, a password (scram-sha-256) required for every TCP connection.
#
# Writable paths: PGDATA's parent (an emptyDir or volume; PGDATA itself is
# made 0700 as postgres requires) and the socket directory (/tmp by
# default), so the root file system can be read-only.
#
# Environment (Bitnami's names first, as the database fixture chart passes
# them; the official image's as fall-backs):
#   POSTGRES_PASSWORD (required)  the application user's password
#   POSTGRES_USER                 the application user (default postgres)
#   POSTGRES_DATABASE, POSTGRES_DB  its database (default: the user's name)
#   POSTGRES_POSTGRES_PASSWORD    the superuser's password; unset, the
#                                 superuser has none and cannot log in over TCP
#   PGDATA                        default /bitnami/postgresql/data
#   PGSOCKET_DIR                  default /tmp
# Extra arguments go to postgres (e.g. -c max_connections=200).
set -euo pipefail

: "${PGDATA:=/bitnami/postgresql/data}"
user=${POSTGRES_USER:-${POSTGRESQL_USERNAME:-postgres}}
password=${POSTGRES_PASSWORD:-${POSTGRESQL_PASSWORD:-}}
database=${POSTGRES_DATABASE:-${POSTGRESQL_DATABASE:-${POSTGRES_DB:-$user}}}
admin_password=${POSTGRES_POSTGRES_PASSWORD:-${POSTGRESQL_POSTGRES_PASSWORD:-}}
socket_dir=${PGSOCKET_DIR:-/tmp}
export PGDATA

log() { printf 'postgres-entrypoint: %s\n' "$*" >&2; }

# Bitnami refuses an empty password too (unless ALLOW_EMPTY_PASSWORD): a
# test double that silently accepted one would hide a missing Secret key.
if [ -z "$password" ]; then
  log "POSTGRES_PASSWORD is empty; set it (or POSTGRESQL_PASSWORD)"
  exit 1
fi
if [ "$user" = postgres ]; then
  admin_password=$password
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  log "initialising $PGDATA (user $user, database $database)"
  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA"
  initdb_args=(--username=postgres --encoding=UTF8 --locale=C.UTF-8
    --auth-local=peer --auth-host=scram-sha-256)
  pwfile=
  if [ -n "$admin_password" ]; then
    # A file, not an argument: no password in the process list.
    pwfile=$(mktemp "$socket_dir/.pwfile.XXXXXX")
    printf '%s\n' "$admin_password" >"$pwfile"
    initdb_args+=(--pwfile="$pwfile")
  fi
  initdb "${initdb_args[@]}" -D "$PGDATA" >/dev/null
  [ -z "$pwfile" ] || rm -f "$pwfile"
  # initdb only lets loopback in over TCP; the pods come from the pod network.
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

  # A server on the socket only, so nobody connects before setup is done.
  pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses='' -c unix_socket_directories='$socket_dir'" start
  run_psql() { psql -h "$socket_dir" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
  if [ "$user" != postgres ]; then
    # psql variables quote the name (:"u") and the password (:'p').
    run_psql -d postgres -v u="$user" -v p="$password" <<'SQL'
CREATE ROLE :"u" LOGIN PASSWORD :'p';
SQL
  fi
  if [ "$database" != postgres ]; then
    run_psql -d postgres -v d="$database" -v u="$user" <<'SQL'
CREATE DATABASE :"d" OWNER :"u";
SQL
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case $f in
      *.sql) log "running $f"; run_psql -d "$database" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | run_psql -d "$database" ;;
      *.sh) log "running $f"; bash "$f" ;;
      *) log "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -w -s -m fast stop
  log "initialised"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c port=5432 \
  -c unix_socket_directories="$socket_dir" "$@"
