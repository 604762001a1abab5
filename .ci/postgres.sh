#!/usr/bin/env bash
# A private PostgreSQL server for the database tests: Debian's postgresql, run as the
# non-root user 'postgres' (initdb refuses root), listening on 127.0.0.1 and a free port, its
# data and socket in DIR.
#   bash .ci/postgres.sh start DIR   # prints: export DLBS_TEST_DB=postgresql+psycopg://...
#   bash .ci/postgres.sh stop DIR
set -euo pipefail
action=${1:-}; dir=${2:-}
[ -n "$action" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
    pg_config --bindir; return
  fi
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return; }; done
  echo "FAILED: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1
}

as_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "$action" in
  start)
    bin=$(bindir)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -e "$dir/data" ] && { echo "FAILED: $dir/data exists (a server's data from an earlier start): give a new or empty DIR" >&2; exit 1; }
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    # a password over TCP (scram), so the tests can show it never appears in any output
    password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    printf '%s\n' "$password" > "$dir/pwfile"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/pwfile"
    as_user "$bin/initdb" -D "$dir/data" -U dlbs --pwfile="$dir/pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    port=$(free_port)
    as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=100 -c fsync=off" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    as_user "$bin/createdb" -h "$dir" -p "$port" -U dlbs dlbs_test
    rm -f "$dir/pwfile"
    echo "$port" > "$dir/port"
    echo "export DLBS_TEST_DB=postgresql+psycopg://dlbs:$password@127.0.0.1:$port/dlbs_test"
    ;;
  stop)
    [ -d "$dir/data" ] || exit 0
    bin=$(bindir)
    as_user "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
