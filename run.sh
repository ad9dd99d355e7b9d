#!/usr/bin/env bash
# Runs the whole system: Postgres, RabbitMQ, the API (http://localhost:5080), ServiceB, ServiceC and the
# Aspire dashboard. Uses containers when a Docker engine answers; otherwise local servers (external mode).
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# The Vision skills' tools (Tesseract, poppler, OpenCV data) run on this machine in either mode.
bash scripts/skills.sh

args=()
if docker info >/dev/null 2>&1; then
  echo "[run] Docker engine found: Postgres and RabbitMQ run as containers"
  args+=(--Infrastructure:Mode=containers)
else
  echo "[run] no Docker engine: using local PostgreSQL and RabbitMQ"
  bash scripts/infra.sh
  args+=(--Infrastructure:Mode=external)
fi

echo "[run] API http://localhost:5080 (Swagger /swagger) · dashboard http://localhost:15080 · RabbitMQ http://localhost:15672"
exec dotnet run --project AssistenteIa.AppHost --launch-profile http -- "${args[@]}" "$@"
