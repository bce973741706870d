#!/bin/bash
# Measures the recorder's crash window (issue 20, item 4): the Release build on a fresh SQLite file with the demo
# seed and an instant simulated provider, paced load on /v1/chat/completions, kill -9 mid-load, then the answered
# calls (200 with a trace id) missing from llm_calls and how long before the kill they were answered. Then a restart
# on the same file shows the budget counters reconciled with the recorded calls.
# Usage: bash scripts/crash-window.sh [rate req/s = 200] [seconds of load before the kill = 25]
set -euo pipefail
RATE=${1:-200}; KILL_AFTER=${2:-25}; PORT=5391
ROOT=$(cd "$(dirname "$0")/.." && pwd); W=$(mktemp -d); APP=$ROOT/src/Keystone.Web/bin/Release/net10.0
dotnet build "$ROOT/src/Keystone.Web" -c Release -nologo -v:q -clp:ErrorsOnly >/dev/null
export ASPNETCORE_ENVIRONMENT=Production Database__SqlitePath=$W/keystone.db Seed__Demo=true Seed__DemoHistoryDays=0 \
  Gateway__ApiKeyRequestsPerMinute=1000000 Gateway__UserRequestsPerMinute=1000000 Gateway__Providers__sim__Kind=Simulated \
  Gateway__Providers__sim__Simulated__TimeToFirstTokenMs=0 Gateway__Providers__sim__Simulated__TokensPerSecond=0 \
  Logging__LogLevel__Default=Warning
start() { (cd "$APP" && exec dotnet Keystone.Web.dll --urls http://127.0.0.1:$PORT) >> "$W/app.log" 2>&1 & PID=$!
  for _ in $(seq 90); do curl -sf http://127.0.0.1:$PORT/readyz >/dev/null && return; sleep 1; done; echo "app did not start"; exit 1; }
counter() { sqlite3 "$W/keystone.db" "SELECT c.spent_micros||' spent, '||c.reserved_micros||' reserved' FROM budget_counters c JOIN budgets b ON b.id = c.budget_id
  WHERE b.tenant_id = 'A0000000-0000-4000-8000-00000000AC3E' AND b.scope = 'tenant' AND b.period = 'day'"; }
recorded() { sqlite3 "$W/keystone.db" "SELECT sum(cost_micros) FROM llm_calls WHERE tenant_id = 'A0000000-0000-4000-8000-00000000AC3E'
  AND billed_to <> 'Support' AND created_utc >= date('now')"; }
start
# The demo plan's 600 requests per minute would refuse most of the load.
sqlite3 "$W/keystone.db" "UPDATE plans SET default_requests_per_minute = 1000000; UPDATE api_keys SET requests_per_minute = NULL;"
sleep 6 # the gateway's settings cache
python3 "$ROOT/scripts/crash-window-load.py" $PORT "$RATE" $((KILL_AFTER + 5)) "$W/answered.txt" &
LOAD=$!; sleep "$KILL_AFTER"; kill -9 $PID; KILLED=$(date +%s%3N); wait $LOAD || true
sqlite3 "$W/keystone.db" "SELECT lower(trace_id) FROM llm_calls" | sort > "$W/recorded.txt"
awk '{print $2" "$1}' "$W/answered.txt" | sort | join -v1 - "$W/recorded.txt" > "$W/missing.txt"
echo "answered $(wc -l < "$W/answered.txt"), missing from llm_calls $(wc -l < "$W/missing.txt"), answered this many ms before the kill: $(awk -v k="$KILLED" '{print k-$2}' "$W/missing.txt" | sort -n | tr '\n' ' ')"
echo "after the crash: day counter $(counter), recorded calls $(recorded) micro-USD"
start; kill -TERM $PID; wait $PID || true
echo "after a restart: day counter $(counter), recorded calls $(recorded) micro-USD"
rm -rf "$W"
