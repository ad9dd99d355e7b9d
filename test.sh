#!/usr/bin/env bash
# Runs every test (unit and integration) against local PostgreSQL and RabbitMQ, which it installs and
# starts when needed. Prints "N passed, N failed[, N skipped]" from the TRX results; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export HOME="${HOME:-/root}"

bash scripts/infra.sh || { echo "0 passed, 1 failed"; exit 1; }

results="$(pwd)/TestResults"
rm -rf "$results"
dotnet build AssistenteIa.sln -c Release -warnaserror -nologo -v q || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
dotnet test --solution AssistenteIa.sln -c Release --no-build --results-directory "$results" --report-trx "$@"
status=$?

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed); e=$(get error); t=$(get timeout)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0}))
  skipped=$((skipped + ${total:-0} - ${executed:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
