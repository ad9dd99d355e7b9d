#!/usr/bin/env bash
# Runs every test: the web page's unit tests (Vitest), then the .NET unit, integration and browser tests against local
# PostgreSQL, RabbitMQ, Chromium and the Vision skills' tools (Tesseract, poppler, OpenCV data), which it installs and
# starts when needed. Prints "N passed, N failed[, N skipped]" from the JUnit and TRX results; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export HOME="${HOME:-/root}"

bash scripts/infra.sh || { echo "0 passed, 1 failed"; exit 1; }
bash scripts/browser.sh || { echo "0 passed, 1 failed"; exit 1; }
bash scripts/skills.sh || { echo "0 passed, 1 failed"; exit 1; }

results="$(pwd)/TestResults"
rm -rf "$results"
dotnet build AssistenteIa.sln -c Release -warnaserror -nologo -v q || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# The web page's own unit tests (dotnet build has installed its packages and generated its API client).
(cd AssistenteIa.Web && npm test --silent)
web_status=$?

dotnet test --solution AssistenteIa.sln -c Release --no-build --results-directory "$results" --report-trx "$@"
status=$?

passed=0; failed=0; skipped=0
junit="$results/web-unit-tests.junit.xml"
if [ -f "$junit" ]; then
  root=$(grep -o '<testsuites [^>]*>' "$junit" | head -1)
  attr() { echo "$root" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  t=$(attr tests); f=$(attr failures); e=$(attr errors); s=$(grep -c '<skipped' "$junit")
  passed=$((passed + ${t:-0} - ${f:-0} - ${e:-0} - ${s:-0}))
  failed=$((failed + ${f:-0} + ${e:-0}))
  skipped=$((skipped + ${s:-0}))
fi
if [ "$web_status" -ne 0 ]; then status=$web_status; fi
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed); e=$(get error); t=$(get timeout)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0}))
  skipped=$((skipped + ${total:-0} - ${executed:-0}))
done
# Name the failed tests last, with the start of their messages, where a truncated log still shows them.
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  if command -v python3 >/dev/null; then
    python3 - "$trx" <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
failed = [r for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns) if r.get("outcome") in ("Failed", "Error", "Timeout")]
for result in failed[:20]:
    print("failed test: " + result.get("testName", "?"))
    message = result.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=ns).strip().splitlines()
    for line in message[:6]:
        print("    " + line[:300])
PY
  else
    grep -o '<UnitTestResult [^>]*outcome="\(Failed\|Error\|Timeout\)"[^>]*>' "$trx" \
      | sed -n 's/.* testName="\([^"]*\)".*/failed test: \1/p' | head -20
  fi
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
