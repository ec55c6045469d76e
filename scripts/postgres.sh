# Throwaway PostgreSQL for the test suite: sourced by scripts/test.
# pg_up starts a server on 127.0.0.1 on a free port in a temporary directory (as a non-root user: the
# server refuses to run as root) and exports AGORA_TEST_POSTGRES_URL; pg_down stops it and removes it.

pg_bindir() {
  if command -v pg_ctl >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v pg_ctl)")"; return; fi
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return; }; done
  return 1
}

pg_install() {
  if pg_bindir >/dev/null; then return; fi
  echo "scripts/test: installing the PostgreSQL server (Debian package postgresql)" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
}

pg_as_user() {
  if [ "$(id -u)" = 0 ]; then
    id -u agora-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin agora-pg
    runuser -u agora-pg -- "$@"
  else
    "$@"
  fi
}

pg_up() {
  pg_install
  local bindir port
  bindir=$(pg_bindir)
  PG_TMP=$(mktemp -d /tmp/agora-pg.XXXXXX)
  chmod 755 "$PG_TMP"
  [ "$(id -u)" = 0 ] && { id -u agora-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin agora-pg; chown agora-pg "$PG_TMP"; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pg_as_user "$bindir/initdb" -D "$PG_TMP/data" -U agora --auth=trust -E UTF8 >"$PG_TMP/initdb.log" 2>&1 \
    || { cat "$PG_TMP/initdb.log" >&2; return 1; }
  pg_as_user "$bindir/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_TMP -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$PG_TMP/server.log" >&2; return 1; }
  export PG_BINDIR=$bindir
  export AGORA_TEST_POSTGRES_URL="postgres://agora@127.0.0.1:$port/postgres"
  echo "scripts/test: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
}

pg_down() {
  if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP/data" ]; then
    pg_as_user "$PG_BINDIR/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}
