#!/usr/bin/env bash
# The peer comparison: recbook vs DeepCTR-Torch (DIN, DIEN), RecBole (GRU4Rec) and
# torch-rechub (MIND, ComiRec-DR/SA) on the same splits of the built-in data (default) or of
# MovieLens-100K (--dataset movielens-100k: the chapters' splits and sizes, every model trained
# to early stopping on its validation split, --epochs the cap, --patience the epochs without gain).
#
# Usage: bash bench/peers/run.sh OUTFILE [--dataset synthetic|movielens-100k] [--epochs N]
#                                        [--patience P]
# Creates (or reuses) bench/peers/.venv, installs the pinned peers there (never into the book's
# .venv), runs ctr.py, session.py and multi_interest.py, and writes a "## Peer comparison"
# markdown section to OUTFILE. A peer that fails is written as "could not run: <error>"; a
# script that fails makes the exit status 1 (the other scripts still run).
# PYTHON (default python3, 3.11) creates the venv. PEERS_VENV overrides its place.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash bench/peers/run.sh OUTFILE [--dataset synthetic|movielens-100k] [--epochs N] [--patience P]" >&2; exit 2; }
OUT=$(realpath -m "$1"); shift
ARGS="$*"
DATASET=synthetic  # only for the section's title and text; the scripts parse "$@" themselves
prev=""
for a in "$@"; do
  case "$a" in --dataset=*) DATASET=${a#--dataset=} ;; esac
  [ "$prev" = "--dataset" ] && DATASET=$a
  prev=$a
done
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${PEERS_VENV:-$HERE/.venv}
PY="$VENV/bin/python"
START=$(date +%s)

# Install (cached): redo only when the requirement files change.
STAMP="$VENV/.peers-installed"
WANT=$(cat "$HERE/requirements.txt" "$HERE/requirements-nodeps.txt" "$HERE/constraints.txt" | sha256sum | cut -c1-16)
if [ ! -x "$PY" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "== peers: installing into $VENV" >&2
  [ -x "$PY" ] || "${PYTHON:-python3}" -m venv "$VENV"
  "$PY" -m pip install -q -c "$HERE/constraints.txt" -r "$HERE/requirements.txt" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  "$PY" -m pip install -q --no-deps -r "$HERE/requirements-nodeps.txt" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  "$PY" -m pip install -q --no-deps -e "$ROOT" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  # (a peer that then fails to import is reported by its script: "could not run: <error>")
  echo "$WANT" > "$STAMP"
fi

WORK=$(mktemp -d /tmp/recbook-peers.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILED=0
for s in ctr session multi_interest; do
  echo "== peers: $s.py" >&2
  t0=$(date +%s)
  if (cd "$HERE" && "$PY" "$s.py" "$@") > "$WORK/$s.md" 2> "$WORK/$s.err"; then
    echo "_(\`bench/peers/$s.py\`: $(( $(date +%s) - t0 )) s)_" >> "$WORK/$s.md"
  else
    FAILED=1
    tail -20 "$WORK/$s.err" >&2
    [ -s "$WORK/$s.md" ] || printf '### bench/peers/%s.py\n\n' "$s" > "$WORK/$s.md"
    printf '\n`bench/peers/%s.py` failed: could not run: `%s`\n' "$s" \
      "$(grep -v '^\s*$' "$WORK/$s.err" | tail -1 | cut -c1-300)" >> "$WORK/$s.md"
  fi
done

versions=$("$PY" - <<'PY' 2>/dev/null || echo "versions unknown"
from importlib.metadata import version, PackageNotFoundError
out = []
for d in ("torch", "numpy", "deepctr-torch", "recbole", "torch-rechub"):
    try:
        out.append(f"{d} {version(d)}")
    except PackageNotFoundError:
        out.append(f"{d} not installed")
print(", ".join(out))
PY
)
{
  if [ "$DATASET" = "movielens-100k" ]; then
    echo "## Peer comparison on MovieLens-100K"
    echo
    echo "recbook's PyTorch models against the peer libraries' implementations of the same papers,"
    echo "each pair on the same MovieLens-100K split as its chapter, with the chapter's sizes, batch"
    echo "size and learning rate and the same batch order, trained and timed in one process with"
    echo "one thread each, each model to early stopping on its validation split (the same rule for"
    echo "both sides, best epoch's weights restored); quality with recbook.metrics on each model's"
    echo "own predictions of the test split (full ranking over all items for retrieval)."
  else
    echo "## Peer comparison"
    echo
    echo "recbook's PyTorch models against the peer libraries' implementations of the same papers,"
    echo "each pair on the same split of the built-in data with the same sizes, batch size, epochs"
    echo "and batch order, trained and timed in one process with one thread each; quality with"
    echo "recbook.metrics on each model's own predictions (full ranking over all items for retrieval)."
  fi
  echo "\"recbook / this (speed)\" is recbook's training throughput divided by that row's: above 1,"
  echo "recbook is faster. Peers from \`bench/peers/requirements.txt\` in their own venv ($versions);"
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores; commit"
  echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')."
  echo "Where recbook is slower, the section below its table gives both profiles; the cause is discussed"
  echo "after the notes. Command: \`bash bench/peers/run.sh OUTFILE${ARGS:+ $ARGS}\` (finished"
  echo "$(date -u '+%Y-%m-%d %H:%M') UTC, wall clock $(( $(date +%s) - START )) s)."
  echo
  cat "$WORK/ctr.md"; echo
  cat "$WORK/session.md"; echo
  cat "$WORK/multi_interest.md"; echo
  cat "$HERE/NOTES.md"
  echo
  cat "$HERE/CAUSES.md"
} > "$OUT"
echo "wrote $OUT" >&2
exit $FAILED
