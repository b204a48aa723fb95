#!/usr/bin/env bash
# Measure, on this machine: a fresh install (new venv from requirements.txt + pip install -e .),
# the executed book build, and the test suite; rewrite bench/RESULTS.md with the machine.
# Takes several minutes. The install uses pip's cache / local wheels when present (said in the
# results). Usage: bash bench/run.sh   (or make bench)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/recbook-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PYTHON=${PYTHON:-python3}
VENV="$WORK/venv"

# Run a step under /usr/bin/time -v; keep its wall-clock seconds and peak memory.
measure() {  # name, command...
  local name=$1; shift
  echo "== $name: $*" >&2
  /usr/bin/time -v -o "$WORK/$name.time" "$@" > "$WORK/$name.log" 2>&1 \
    || { echo "$name failed; last lines:" >&2; tail -30 "$WORK/$name.log" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$WORK/$name.time")
  echo "| $name | $wall | $rss |" >> "$WORK/rows.md"
}

measure install bash -c "$PYTHON -m venv '$VENV' && '$VENV/bin/python' -m pip install -q -r requirements.txt \
  && '$VENV/bin/python' -m pip install -q -e . --no-deps"
measure book env RECBOOK_PROGRESS=log "$VENV/bin/python" scripts/bookctl.py build --out "$WORK/book"
# Failing tests are recorded (last line of the log), not fatal: the timing is what is measured.
measure test bash -c "'$VENV/bin/python' -m pytest tests -q -rfE -p no:cacheprovider || true"
# The editable install in the throw-away venv pointed at this checkout; nothing else was touched.

pip_cache=$("$VENV/bin/python" -m pip cache dir 2>/dev/null || echo unknown)
find_links=$("$VENV/bin/python" -m pip config list 2>/dev/null | grep -i 'find-links\|index-url' | tr '\n' ' ' || true)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
tests=$(tail -1 "$WORK/test.log")
failures=$(grep -E '^(FAILED|ERROR) ' "$WORK/test.log" | cut -c1-160 | sed 's/^/  - /' || true)

cat > bench/RESULTS.md <<MD
# Benchmark results

Written by \`bench/run.sh\` ($(date -u +%Y-%m-%d)); rerun it to refresh. Times are wall clock
(\`/usr/bin/time -v\`), peak memory is the largest resident set of the step's processes.

## Machine

| | |
| --- | --- |
| CPU | $(lscpu | awk -F': +' '/Model name/ {print $2; exit}') |
| cores | $(nproc) usable ($(lscpu | awk -F': +' '/^CPU\(s\)/ {print $2; exit}') online) |
| RAM | $(free -g | awk '/Mem:/ {print $2}') GiB |
| OS | $(. /etc/os-release && echo "$PRETTY_NAME") |
| Python | $($PYTHON --version 2>&1 | cut -d' ' -f2) |
| commit | $commit$dirty |
| load | $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-minute load average at the end; other work shares the machine) |

## Timings

| step | wall clock (h:mm:ss) | peak memory (MiB) |
| --- | --- | --- |
$(cat "$WORK/rows.md")

- **install**: a new venv, \`pip install -r requirements.txt\`, \`pip install -e . --no-deps\`.
  pip's cache ($pip_cache) and any local wheel folders/indexes configured for pip
  ($find_links) were used, so downloads were (mostly) skipped; a cold install also downloads
  about 1 GB (torch, tensorflow-cpu) and takes longer.
- **book**: \`scripts/bookctl.py build\`, the same command as \`make book\` (every chapter executed).
- **test**: \`pytest tests\`, the same as \`make test\`; it builds the book once more. Result: $tests
$failures
MD
echo "wrote bench/RESULTS.md" >&2
cat bench/RESULTS.md
