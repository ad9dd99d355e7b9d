#!/usr/bin/env bash
# Installs (Debian packages) and starts local PostgreSQL and RabbitMQ with the management plugin, with the
# seed's Development credentials. Idempotent: skips what is already installed or running.
set -euo pipefail
# Debian puts the server tools in /usr/sbin, which a non-login root shell may not have on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# Erlang keeps its cookie in $HOME; CI may start us without one.
export HOME="${HOME:-/root}"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PG_PASSWORD="${PG_PASSWORD:-007182}"

log() { echo "[infra] $*"; }

wait_for() { # wait_for <seconds> <description> <command...>
  local seconds=$1 what=$2; shift 2
  for _ in $(seq 1 "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "[infra] timed out after ${seconds}s waiting for $what" >&2
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
fi

# PostgreSQL
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  log "starting PostgreSQL"
  $SUDO service postgresql start >/dev/null
  wait_for 60 "PostgreSQL" pg_isready -h 127.0.0.1 -p 5432
fi
if ! PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  log "setting the postgres password (Development seed)"
  (cd / && $SUDO runuser -u postgres -- psql -q -c "ALTER USER postgres WITH PASSWORD '$PG_PASSWORD'")
fi
log "PostgreSQL ready on 127.0.0.1:5432"

# RabbitMQ
if ! port_open 5672; then
  log "starting RabbitMQ"
  $SUDO rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
  export RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-25672}"
  $SUDO env RABBITMQ_DIST_PORT="$RABBITMQ_DIST_PORT" rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for 90 "RabbitMQ AMQP port" port_open 5672
fi
if ! wait_for 20 "RabbitMQ management API" curl -fsS -m 2 -u guest:guest http://127.0.0.1:15672/api/overview; then
  # A server started by someone else (e.g. the package's own service) may lack the plugin: enable it online.
  log "enabling the management plugin"
  $SUDO rabbitmq-plugins enable rabbitmq_management >/dev/null
  wait_for 60 "RabbitMQ management API" curl -fsS -m 2 -u guest:guest http://127.0.0.1:15672/api/overview
fi
log "RabbitMQ ready on 127.0.0.1:5672 (management UI http://localhost:15672, guest/guest)"
