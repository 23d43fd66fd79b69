#!/usr/bin/env bash
# Runs `npm test` N times in a row (default 20) to catch flaky tests. Prints
# one line per run and, at the end, how many were green. Stops at the first
# red run and prints its whole output (and keeps it in a file).
#
#   scripts/repeat-tests.sh        # 20 runs
#   scripts/repeat-tests.sh 5      # 5 runs
#
# The build runs once; each run is then the suite itself (`npm test` without
# its tsc step), so a run costs the tests' time only.
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1 FORCE_COLOR=0 npm_config_update_notifier=false

runs=${1:-20}
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [runs]   (a positive number, default 20)" >&2
  exit 2
fi

echo "== building once (npm run build:ts)"
if ! npm run build:ts --silent; then
  echo "the build failed"
  exit 1
fi

# The test command of package.json without its build step.
cmd=$(node -p 'require("./package.json").scripts.test.replace(/^npm run build:ts --silent && /, "")')
echo "== running: $cmd"

green=0
out=$(mktemp)
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if bash -c "PATH=\"$PWD/node_modules/.bin:\$PATH\"; $cmd" >"$out" 2>&1; then
    green=$((green + 1))
    summary=$(grep -E '^ *(Total|Passed|Skipped|Duration):' "$out" | tr -s ' ' | tr '\n' ' ')
    echo "run $i/$runs: green in $(($(date +%s) - start)) s ($summary)"
  else
    echo "run $i/$runs: RED after $(($(date +%s) - start)) s; its output:"
    echo "------------------------------------------------------------------"
    cat "$out"
    echo "------------------------------------------------------------------"
    kept="${TMPDIR:-/tmp}/p4net-red-run-$(date +%Y%m%d-%H%M%S).log"
    cp "$out" "$kept"
    echo "(kept in $kept)"
    echo "$green of $i runs green; stopped at the first red one"
    rm -f "$out"
    exit 1
  fi
done
rm -f "$out"
echo "$green of $runs runs green"
