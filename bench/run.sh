#!/usr/bin/env bash
# The benchmark suite (make bench). Measures, on this machine, in one run:
#   1. install: a fresh venv from requirements.txt + pip install -e . (wall clock, peak memory);
#   2. book: the executed book build (scripts/bookctl.py build, as make book), and each
#      chapter's execution time as bookctl logs it ("<path>: Executed notebook in S seconds");
#   3. test: the test suite (pytest tests, as make test) and its slowest tests;
#   4. models: every bench/<model>.py (training samples/s, ms per mini-batch, first step,
#      inference latency at batch 1 and 1024, scoring/serving throughput) at the quick and
#      the full preset's model sizes (built-in data shaped for them, no download);
#   5. faiss: bench/faiss_vs_numpy.py, top-50 queries/s for 10^5 and 10^6 items at equal recall;
#   6. peers: bench/peers/run.sh OUTFILE (DeepCTR-Torch, RecBole, torch-rechub against recbook
#      in their own venv) on the built-in data, then with --dataset movielens-100k, when that
#      script exists;
# then rewrites bench/RESULTS.md with the machine, the commit and every table.
#
# Usage: bash bench/run.sh [--quick] [--out FILE] [--models "din bst"] [--sizes quick,full]
#                          [--steps N] [--no-faiss] [--peers | --no-peers]
#   --quick     steps 4-5 only, with $PY (default .venv/bin/python), and no peers unless
#               --peers; RESULTS.md keeps the previous blocks it did not measure when the
#               hardware is unchanged
#   --out       write there instead of bench/RESULTS.md (also BENCH_RESULTS=FILE)
#   --models    which bench/<model>.py to run (default: all; also BENCH_MODELS; "" for none)
#   --sizes     which preset sizes the model scripts measure (default quick,full; BENCH_SIZES)
#   --steps     timed training steps for every model and size (default: each script's own,
#               fewer at the full size; also BENCH_STEPS)
#   --no-faiss  skip step 5;  --no-peers / --peers  skip / force step 6 (default: on, off with --quick)
# BENCH_THREADS (default 1) sets the threads of both frameworks, numpy's BLAS and faiss. A step
# that fails is recorded as failed, the others still run, and the exit status is 1.
set -euo pipefail
START=$SECONDS
ARGS="$*"
cd "$(dirname "$0")/.."
ROOT=$PWD
QUICK=0
OUT=${BENCH_RESULTS:-bench/RESULTS.md}
MODELS=${BENCH_MODELS-gru4rec din dien bst mind comirec}
SIZES=${BENCH_SIZES:-quick,full}
STEPS=${BENCH_STEPS:-}
FAISS=1
PEERS=  # empty: the default (on, off with --quick)
while [ $# -gt 0 ]; do
  case $1 in
    --quick|--skip-install) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    --models) MODELS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --no-faiss) FAISS=0 ;;
    --peers) PEERS=1 ;;
    --no-peers) PEERS=0 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
WORK=$(mktemp -d /tmp/recbook-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PYTHON=${PYTHON:-python3}
FAILED=0
[ -n "$PEERS" ] || PEERS=$((1 - QUICK))

# Run a step under /usr/bin/time -v; keep its wall-clock time and peak memory as a table row.
measure() {  # name, command...
  local name=$1; shift
  echo "== $name: $*" >&2
  local status=ok
  /usr/bin/time -v -o "$WORK/$name.time" "$@" > "$WORK/$name.log" 2>&1 || {
    status=failed; FAILED=1
    echo "$name failed; last lines:" >&2; tail -30 "$WORK/$name.log" >&2; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$WORK/$name.time")
  echo "| $name | $wall | $rss | $status |" >> "$WORK/rows.md"
  [ $status = ok ]
}

if [ $QUICK = 1 ]; then
  PY=${PY:-.venv/bin/python}
else
  VENV="$WORK/venv"
  PY="$VENV/bin/python"
  measure install bash -c "$PYTHON -m venv '$VENV' && '$PY' -m pip install -q -r requirements.txt \
    && '$PY' -m pip install -q -e . --no-deps" \
    || { echo "install failed: nothing else can run in the fresh venv" >&2; exit 1; }
  measure book env RECBOOK_PROGRESS=log "$PY" scripts/bookctl.py build --out "$WORK/book" || true
  measure test "$PY" -m pytest tests -q -rfE -p no:cacheprovider --durations=10 || true
  # (The editable install in the throw-away venv pointed at this checkout; nothing else changed.)
fi
[ -x "$PY" ] || { echo "run.sh: no Python at $PY (make venv, or set PY=...)" >&2; exit 1; }

# 4. Model throughput: each script prints its own markdown section.
{
  echo "## Model throughput and latency (quick and full sizes, built-in data)"
  echo
  "$PY" bench/common.py stamp
  echo "Sizes: **quick** = the chapters' preset (\`recbook.config.PRESETS[model][\"quick\"]\`);"
  echo "**full** = the full preset's model sizes (embedding dimensions, hidden sizes, max_len,"
  echo "batch size, negatives) and optimizer, on built-in data generated for them (5,000 items,"
  echo "histories reaching max_len; no download), so the tensors have the full model's shapes but"
  echo "the embedding tables are smaller than a real catalogue's. Fewer timed steps at the full size."
  echo "Per model, framework and size: training samples/s and ms per mini-batch after 3 warm-up"
  echo "steps; the first step apart (TensorFlow traces its graph there); the median latency of"
  echo "one inference call on B = 1 and B = 1024 rows (a CTR model's scores; a retrieval model's"
  echo "interests and top-50; GRU4Rec's next-item scores); and one full pass over the test split"
  echo "(TensorFlow's \`predict\` traces its graph once per model; that first trace is in its scoring figure)."
  echo "Threads per framework: BENCH_THREADS (${BENCH_THREADS:-1}). Scripts: \`bench/<model>.py\`."
  echo
} > "$WORK/models.md"
for m in $MODELS; do
  echo "== model $m" >&2
  args=()
  [ -n "$STEPS" ] && args=(--steps "$STEPS")
  args+=(--sizes "$SIZES")
  if "$PY" bench/$m.py "${args[@]}" > "$WORK/model-$m.md" 2> "$WORK/model-$m.err"; then
    cat "$WORK/model-$m.md" >> "$WORK/models.md"
  else
    FAILED=1
    echo "bench/$m.py failed; last lines:" >&2; tail -20 "$WORK/model-$m.err" >&2
    printf '### %s\n\n`bench/%s.py` failed: %s\n\n' "$m" "$m" \
      "$(grep -v '^\s*$' "$WORK/model-$m.err" | tail -1 | cut -c1-200)" >> "$WORK/models.md"
  fi
done

# 5. faiss against numpy.
blocks=(--models "$WORK/models.md")
if [ $FAISS = 1 ]; then
  echo "== faiss vs numpy" >&2
  if "$PY" bench/faiss_vs_numpy.py > "$WORK/faiss.md" 2> "$WORK/faiss.err"; then :; else
    FAILED=1
    echo "bench/faiss_vs_numpy.py failed; last lines:" >&2; tail -20 "$WORK/faiss.err" >&2
    printf '## faiss retrieval against brute-force numpy\n\n`bench/faiss_vs_numpy.py` failed: %s\n' \
      "$(grep -v '^\s*$' "$WORK/faiss.err" | tail -1 | cut -c1-200)" > "$WORK/faiss.md"
  fi
  blocks+=(--faiss "$WORK/faiss.md")
fi

# 6. Peers: bench/peers/run.sh OUTFILE writes its own markdown section (its own venv).
if [ $PEERS = 1 ]; then
  if [ -f bench/peers/run.sh ]; then
    measure peers bash bench/peers/run.sh "$WORK/peers-section.md" || true
    row=$(grep '^| peers |' "$WORK/rows.md" | tail -1)
    status=$(echo "$row" | awk -F' [|] ' '{print $4}' | tr -d ' |')
    step="$("$PY" bench/common.py stamp) Step \`bash bench/peers/run.sh\` (run by bench/run.sh):
$status, wall clock $(echo "$row" | awk -F' [|] ' '{print $2}') (h:mm:ss), peak memory $(echo "$row" | awk -F' [|] ' '{print $3}') MiB."
    # the same comparison on the chapters' MovieLens-100K splits, each side to early stopping
    # (patience 3: the MIND and ComiRec chapters' rule); its section follows the built-in one
    bash bench/peers/run.sh "$WORK/peers-ml.md" --dataset movielens-100k --patience 3 \
      > "$WORK/peers-ml.log" 2>&1 \
      || echo "(bench/peers/run.sh --dataset movielens-100k failed; see its section)" >> "$WORK/peers-ml.md"
    if [ -s "$WORK/peers-section.md" ]; then  # its own section (heading included), then the step
      { cat "$WORK/peers-section.md"; echo; echo "$step"; echo; cat "$WORK/peers-ml.md"; } \
        > "$WORK/peers.md"
    else
      { echo "## Peer comparison"; echo; echo "$step It wrote no section; last lines of its log:"
        echo; echo '```'; tail -15 "$WORK/peers.log"; echo '```'; } > "$WORK/peers.md"
    fi
  else
    printf '## Peer comparison\n\n%s `bench/peers/run.sh`: not present, so no peer was measured.\n' \
      "$("$PY" bench/common.py stamp)" > "$WORK/peers.md"
  fi
  blocks+=(--peers "$WORK/peers.md")
fi

took=$((SECONDS - START))
blocks+=(--took "$(printf '%d:%02d:%02d' $((took / 3600)) $((took % 3600 / 60)) $((took % 60)))" \
  --command "bash bench/run.sh${ARGS:+ $ARGS}")
if [ $QUICK = 1 ]; then
  "$PY" bench/common.py write "$OUT" "${blocks[@]}"
else
  pip_cache=$("$PY" -m pip cache dir 2>/dev/null || echo unknown)
  find_links=$("$PY" -m pip config list 2>/dev/null | grep -i 'find-links\|index-url' | tr '\n' ' ' || true)
  tests=$(grep -E '(passed|failed|error)' "$WORK/test.log" | tail -1 || echo "no summary line")
  failures=$(grep -E '^(FAILED|ERROR) ' "$WORK/test.log" | cut -c1-160 | sed 's/^/  - /' || true)
  cat > "$WORK/build.md" <<MD
## Install, book build and tests

$("$PY" bench/common.py stamp) Wall clock and peak memory (largest resident set of the step's
processes) from \`/usr/bin/time -v\`.

| step | wall clock (h:mm:ss) | peak memory (MiB) | status |
| --- | --- | --- | --- |
$(cat "$WORK/rows.md")

- **install**: a new venv, \`pip install -r requirements.txt\`, \`pip install -e . --no-deps\`.
  pip's cache ($pip_cache) and any local wheel folders/indexes configured for pip
  (${find_links:-none}) were used, so downloads were (mostly) skipped; a cold install also
  downloads about 1 GB (torch, tensorflow-cpu) and takes longer.
- **book**: \`scripts/bookctl.py build\`, the same command as \`make book\` (every chapter executed).
- **test**: \`pytest tests\`, the same as \`make test\` (it builds the book once more). Result: $tests
$failures

### Chapter execution times (book build)

Seconds per notebook as \`scripts/bookctl.py build\` logs them during the **book** step
(RECBOOK_PROGRESS=log). Several notebooks execute at once (two on 2 cores), so their sum is
larger than the step's wall clock above.

$("$PY" bench/common.py chapters "$WORK/book.log")

### Slowest tests

$("$PY" bench/common.py durations "$WORK/test.log")
MD
  "$PY" bench/common.py write "$OUT" "${blocks[@]}" --build "$WORK/build.md"
fi
echo "wrote $OUT" >&2
exit $FAILED
