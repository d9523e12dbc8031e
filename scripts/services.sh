#!/usr/bin/env bash
# Local PostgreSQL and Redis for the test suite, on loopback.
#
#   scripts/services.sh start    start whichever is not answering, wait until both answer
#   scripts/services.sh stop     stop both
#   scripts/services.sh status   report both; exit 0 only when both answer
#
# PostgreSQL: 127.0.0.1:5432, user postgres without a password (trust), allowed to
# create databases (pytest-django creates test_reflexio), database `reflexio`.
# Redis: 127.0.0.1:6379, nothing kept on disk.
#
# On the python-svc machines both are installed and normally running; the start
# commands are the ones those machines use. On a machine without them, `start`
# installs Debian's postgresql / redis-server with apt-get (needs root or sudo) and
# creates a cluster with trust auth on loopback.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_DB=reflexio
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT_SECONDS="${SERVICES_WAIT_SECONDS:-60}"
REDIS_DIR=/var/lib/redis
REDIS_LOG=/var/log/redis/ci.log

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=()
if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
fi

# --- helpers -------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "need to install $*, but apt-get is not available"
    local opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
    export DEBIAN_FRONTEND=noninteractive
    if [[ "$APT_UPDATED" -eq 0 ]]; then
        "${SUDO[@]}" apt-get "${opts[@]}" update -qq </dev/null
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${SUDO[@]}" apt-get "${opts[@]}" install -y -qq --no-install-recommends "$@" </dev/null >/dev/null 9>&-
}

# Run a command as the postgres OS user (peer auth on the local socket).
as_postgres() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        sudo -u postgres -- "$@"
    fi
}

psql_tcp() {
    psql -X -w -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -Atq "$@"
}

# Newest PostgreSQL version with a cluster config (/etc/postgresql/<version>/).
pg_version() {
    ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

pg_hba() { echo "/etc/postgresql/$(pg_version)/main/pg_hba.conf"; }
pg_log() { echo "/var/log/postgresql/postgresql-$(pg_version)-main.log"; }

# 0 accepting, 1 rejecting (starting up / shutting down), 2 no response, 3 no attempt.
pg_state() {
    local rc=0
    pg_isready -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1 || rc=$?
    echo "$rc"
}
pg_up() { [[ "$(pg_state)" == 0 ]]; }

redis_up() {
    [[ "$(timeout 5 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

wait_for() {  # wait_for NAME CHECK_FUNCTION LOGFILE
    local name=$1 check=$2 logfile=$3 deadline=$((SECONDS + WAIT_SECONDS))
    while ! "$check"; do
        if ((SECONDS >= deadline)); then
            log "ERROR: $name did not answer within ${WAIT_SECONDS}s."
            if [[ -r "$logfile" ]]; then
                log "last lines of $logfile:"
                tail -n 30 "$logfile" >&2 || true
            fi
            exit 1
        fi
        sleep 0.5
    done
}

# --- PostgreSQL ------------------------------------------------------------------

PG_FRESH=0  # set when this run installed PostgreSQL or created its cluster

pg_ensure_installed() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1 \
        || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        log "PostgreSQL is not installed"
        apt_install postgresql
        PG_FRESH=1
    fi
    if [[ -z "$(pg_version)" || ! -d "/etc/postgresql/$(pg_version)/main" ]]; then
        local ver
        ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
        [[ -n "$ver" ]] || die "no PostgreSQL server found under /usr/lib/postgresql"
        log "creating PostgreSQL $ver cluster 'main' on port $PG_PORT"
        "${SUDO[@]}" pg_createcluster --port "$PG_PORT" "$ver" main >/dev/null
        PG_FRESH=1
    fi
}

# Passwordless loopback connections for every user, ahead of the distribution's
# rules (pg_hba.conf is first match wins).
pg_configure_trust() {
    local hba
    hba=$(pg_hba)
    if ! grep -qE '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        log "configuring trust auth for 127.0.0.1 and ::1 in $hba"
        "${SUDO[@]}" sed -i '1i # Added by scripts/services.sh: passwordless loopback connections for tests.\nhost    all    all    127.0.0.1/32    trust\nhost    all    all    ::1/128         trust' "$hba"
        "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload 9>&-
        sleep 1
    fi
}

pg_start() {
    pg_ensure_installed
    local state
    state=$(pg_state)
    if [[ "$state" == 0 ]]; then
        log "PostgreSQL already answering on $PG_HOST:$PG_PORT"
    else
        if [[ "$state" != 1 ]]; then  # 1 = starting up: only wait
            log "starting PostgreSQL $(pg_version) (cluster main)"
            # The command the python-svc machines use.
            "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start 9>&- \
                || log "pg_ctlcluster start failed (exit $?); waiting anyway"
        fi
        wait_for PostgreSQL pg_up "$(pg_log)"
        log "PostgreSQL is up"
    fi

    if ! psql_tcp -c 'select 1' >/dev/null 2>&1; then
        if [[ "$PG_FRESH" == 1 || "${CI:-}" == true ]]; then
            pg_configure_trust
        fi
        psql_tcp -c 'select 1' >/dev/null 2>&1 || die "PostgreSQL answers, but user $PG_USER cannot log in over TCP without a password.
  Add 'host all all 127.0.0.1/32 trust' at the top of $(pg_hba) and reload it
  (pg_ctlcluster --skip-systemctl-redirect $(pg_version) main reload)."
    fi

    if [[ "$(psql_tcp -c "select rolsuper or rolcreatedb from pg_roles where rolname = current_user")" != t ]]; then
        log "granting CREATEDB to role $PG_USER"
        as_postgres psql -X -q -c "ALTER ROLE $PG_USER CREATEDB" \
            || die "role $PG_USER cannot create databases and ALTER ROLE failed"
    fi

    if [[ "$(psql_tcp -c "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]]; then
        log "creating database $PG_DB"
        createdb -w -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB" 2>/dev/null \
            || [[ "$(psql_tcp -c "select 1 from pg_database where datname = '$PG_DB'")" == 1 ]] \
            || die "could not create database $PG_DB"
    fi
}

pg_stop() {
    if [[ -z "$(pg_version)" ]] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        log "PostgreSQL is not installed"
        return 0
    fi
    if [[ "$(pg_state)" == 2 ]]; then
        log "PostgreSQL already stopped"
        return 0
    fi
    log "stopping PostgreSQL $(pg_version) (cluster main)"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main stop
}

# --- Redis -------------------------------------------------------------------------

redis_start() {
    if redis_up; then
        log "Redis already answering on $REDIS_HOST:$REDIS_PORT"
        return 0
    fi
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        log "Redis is not installed"
        apt_install redis-server
        # The package's own service may have come up with it.
        if redis_up; then
            log "Redis is up"
            return 0
        fi
    fi
    "${SUDO[@]}" mkdir -p "$REDIS_DIR" "$(dirname "$REDIS_LOG")"
    log "starting Redis on $REDIS_HOST:$REDIS_PORT"
    # The command the python-svc machines use.
    "${SUDO[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
        --save "" --appendonly no --dir "$REDIS_DIR" --logfile "$REDIS_LOG" 9>&- \
        || log "redis-server failed to start (exit $?); waiting anyway"
    wait_for Redis redis_up "$REDIS_LOG"
    log "Redis is up"
}

redis_stop() {
    if ! command -v redis-cli >/dev/null 2>&1; then
        log "Redis is not installed"
        return 0
    fi
    if ! redis_up; then
        log "Redis already stopped"
        return 0
    fi
    log "stopping Redis"
    timeout 10 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 15))
    while redis_up; do
        ((SECONDS < deadline)) || die "Redis did not stop"
        sleep 0.2
    done
}

# --- main ----------------------------------------------------------------------------

status() {
    local rc=0
    if command -v pg_isready >/dev/null 2>&1 && pg_up; then
        echo "postgresql: up ($PG_HOST:$PG_PORT)"
    else
        echo "postgresql: down ($PG_HOST:$PG_PORT)"
        rc=3
    fi
    if command -v redis-cli >/dev/null 2>&1 && redis_up; then
        echo "redis: up ($REDIS_HOST:$REDIS_PORT)"
    else
        echo "redis: down ($REDIS_HOST:$REDIS_PORT)"
        rc=3
    fi
    return "$rc"
}

# One `start`/`stop` at a time (two make targets may run it together). Every
# command that can leave a daemon behind runs with `9>&-`, or the daemon would
# inherit the lock and hold it for ever.
lock() {
    if command -v flock >/dev/null 2>&1; then
        exec 9>"${TMPDIR:-/tmp}/reflexio-services.lock"
        flock -w 180 9 || die "another scripts/services.sh is still running"
    fi
}

case "${1:-}" in
    start)
        lock
        pg_start
        redis_start
        ;;
    stop)
        lock
        redis_stop
        pg_stop
        ;;
    status)
        status
        ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
