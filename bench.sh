#!/usr/bin/env bash
# Performance benchmark (issue 10): ./bench.sh --quick (under 5 minutes) or ./bench.sh (larger sizes).
# Starts the local Postgres and RabbitMQ (scripts/infra.sh), builds AssistenteIa.Benchmarks in Release once, runs
# the scenarios one after another (each in scratch databases it drops), prints a markdown table and writes
# bench/results/<UTC timestamp>.json and bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")"

run=full
case "${1:-}" in
  --quick) run=quick ;;
  "") ;;
  *) echo "usage: ./bench.sh [--quick]" >&2; exit 2 ;;
esac

if [ "$run" = quick ]; then
  create_seconds=10; tasks=5000; jobs=5000
else
  # Not yet the issue's full run (8/64 clients, 2 ServiceB instances, 1M rows): the quick scenarios, larger.
  create_seconds=20; tasks=20000; jobs=20000
fi

started=$SECONDS
bash scripts/infra.sh
echo "[bench] building (Release)"
dotnet build AssistenteIa.Benchmarks -c Release -p:SkipWebApp=true -nologo -v quiet
bench=(dotnet AssistenteIa.Benchmarks/bin/Release/net10.0/AssistenteIa.Benchmarks.dll)

parts=$(mktemp -d)
trap 'rm -rf "$parts"' EXIT

scenario() { # scenario <name> [options...]
  local name=$1; shift
  echo "[bench] $name ($((SECONDS - started)) s)"
  "${bench[@]}" "$name" "$@" --out "$parts/$name.json"
}

scenario commit-limit --clients 32 --seconds 10
scenario system --clients 32 --create-seconds "$create_seconds" --tasks "$tasks" --paced-rate 400 --paced-seconds 10 --worker-concurrency 2
scenario hangfire --jobs "$jobs" --workers 2 --producers 4
scenario lean-loop --tasks "$jobs" --producers 4 --consumers 2

echo
"${bench[@]}" report --parts "$parts" --output bench/results --run "$run" --commit "$(git rev-parse --short HEAD)"
echo "[bench] $run run took $((SECONDS - started)) s; results in bench/results/latest.json"
