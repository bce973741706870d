#!/usr/bin/env bash
# The one test command (README "Tests"): installs what the tests need on a fresh machine of this kind
# (PostgreSQL 15 + pgvector, Chromium), builds the solution, runs every test project, and prints one
# plain "N passed, N failed" line. Exits non-zero when anything fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/install-test-deps.sh

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet tool restore >/dev/null
dotnet build Console.sln -c Debug -nologo -v:q -clp:ErrorsOnly

results="$root/TestResults/trx"
rm -rf "$results"
mkdir -p "$results"

status=0
for project in tests/*/*.Tests.csproj; do
  name="$(basename "$project" .csproj)"
  echo "== $name"
  if ! dotnet test "$project" --no-build -nologo -v:q \
      --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
      --logger "console;verbosity=minimal"; then
    status=1
  fi
done

# Sum the counters of every TRX file (one per test project).
read -r passed failed skipped < <(python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(path).getroot().find(".//{*}Counters")
    if c is None:
        continue
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0)) + int(c.get("aborted", 0))
    s += int(c.get("notExecuted", 0))
print(p, f, s)
PY
)

if [ "$passed" -eq 0 ]; then
  echo "no tests ran"
  status=1
fi
if [ "$failed" -gt 0 ]; then status=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
