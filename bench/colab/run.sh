#!/usr/bin/env bash
# A Colab-like environment, and every chapter executed in it (issue 21).
#
#   bash bench/colab/run.sh [--rebuild] [CHAPTER ...]      (default: every chapter of _toc.yml)
#
# What "Colab-like" means here, and why each piece:
# - Python 3.12 (Colab's). Debian bookworm packages only 3.11, so the interpreter comes from
#   $COLAB_PYTHON, else `python3.12` on PATH, else a pyenv 3.12 under ~/.pyenv/versions.
# - The default Linux torch build from PyPI (`pip install torch==X`: the CUDA build that pulls
#   triton and the nvidia-* wheels, as Colab ships), not the CPU index the book is tested with:
#   the triton + TensorFlow segfault of issue 21 happens only with that build.
# - tensorflow (the plain package, as Colab ships it), at the version requirements.txt pins for
#   tensorflow-cpu; Jupyter's kernel and nbclient to execute the notebooks.
# - recbook installed by pip as the chapters' install cell does (`pip install "recbook @ git+..."`),
#   from this checkout's committed HEAD (`git+file://`; the machine has no route to GitHub), so
#   uncommitted edits are not what runs.
# pip reads PyPI only (PIP_CONFIG_FILE=/dev/null): this machine's pip config adds local wheel
# folders whose torch is the +cpu build, which would defeat the point.
# The venv lives in $COLAB_VENV (default /tmp/recbook-colab) and is reused unless --rebuild.
# bench/colab/import_order.py then shows the segfault (TensorFlow imported before triton) and
# recbook's import order avoiding it, each in a fresh interpreter.
# Each chapter runs from a copy of chapters/ (so `import recbook` finds the installed package, not
# this checkout), with RECBOOK_PROGRESS=log as the book build sets it; one line per chapter:
#   <chapter> pass|FAIL <seconds>  (the failing cell's error follows a FAIL)
# Exit status 1 when any chapter failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=${COLAB_VENV:-/tmp/recbook-colab}
REBUILD=0
CHAPTERS=()
for arg in "$@"; do
  case $arg in
    --rebuild) REBUILD=1 ;;
    -h|--help) sed -n 2,25p "$0"; exit 0 ;;
    *) CHAPTERS+=("$arg") ;;
  esac
done

find_python() {
  if [ -n "${COLAB_PYTHON:-}" ]; then echo "$COLAB_PYTHON"; return; fi
  local p
  for p in "$(command -v python3.12 2>/dev/null || true)" "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      echo "$p"; return
    fi
  done
  echo "no Python 3.12 found: set COLAB_PYTHON=/path/to/python3.12 (Debian bookworm has only 3.11)" >&2
  exit 2
}

TORCH=$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' requirements.txt)
TF=$(sed -n 's/^tensorflow-cpu==\([0-9.]*\).*/\1/p' requirements.txt)
PYPI=(env PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL= PIP_CONSTRAINT=)

if [ "$REBUILD" = 1 ] || [ ! -x "$VENV/bin/python" ]; then
  PY312=$(find_python)
  rm -rf "$VENV"
  "$PY312" -m venv "$VENV"
  T0=$SECONDS
  # pip first: the one ensurepip gives Python 3.12.1 (23.2) rejects `git+file:///` requirements
  "${PYPI[@]}" "$VENV/bin/pip" install -q --index-url https://pypi.org/simple -U pip
  "${PYPI[@]}" "$VENV/bin/pip" install -q --index-url https://pypi.org/simple \
    "torch==$TORCH" "tensorflow==$TF" nbclient ipykernel nbformat
  echo "colab venv: torch==$TORCH tensorflow==$TF installed in $((SECONDS - T0)) s"
fi
COMMIT=$(git rev-parse HEAD)
T0=$SECONDS
# What the install cell runs, with the repository URL replaced by this checkout.
# (then once more without dependencies, forced: pip keeps an installed recbook of the same version)
"${PYPI[@]}" "$VENV/bin/pip" install -q --index-url https://pypi.org/simple "recbook @ git+file://$ROOT@$COMMIT"
"${PYPI[@]}" "$VENV/bin/pip" install -q --index-url https://pypi.org/simple --force-reinstall --no-deps \
  "recbook @ git+file://$ROOT@$COMMIT"
echo "recbook @ $COMMIT installed in $((SECONDS - T0)) s"
"$VENV/bin/python" - <<'PY'
import importlib.util, platform, sys
import torch, tensorflow as tf
print(f"python {platform.python_version()} | torch {torch.__version__} (cuda {torch.version.cuda}, "
      f"triton {'yes' if importlib.util.find_spec('triton') else 'no'}) | tensorflow {tf.__version__}")
PY

# The segfault of issue 21 and the import order that avoids it, outside any notebook (exit -11 =
# segmentation fault), run from /tmp so that the installed recbook is the one imported.
(cd /tmp && env -u PYTHONPATH "$VENV/bin/python" "$ROOT/bench/colab/import_order.py")

if [ ${#CHAPTERS[@]} -eq 0 ]; then
  mapfile -t CHAPTERS < <(sed -n 's/^ *\(- \)\?\(root\|file\): *chapters\/\([a-z0-9_]*\).*/\3/p' _toc.yml)
fi
WORK=$(mktemp -d /tmp/recbook-colab-run.XXXXXX)
cp -r chapters "$WORK/chapters"
FAILED=0
echo "chapter  result  seconds"
for name in "${CHAPTERS[@]}"; do
  if [ ! -f "$WORK/chapters/$name.ipynb" ]; then echo "$name: no chapters/$name.ipynb" >&2; FAILED=1; continue; fi
  T0=$SECONDS
  if (cd "$WORK" && env -u PYTHONPATH RECBOOK_PROGRESS=log "$VENV/bin/python" "$ROOT/bench/colab/execute.py" \
        "chapters/$name.ipynb" >"$WORK/$name.log" 2>&1); then
    echo "$name  pass  $((SECONDS - T0))"
  else
    echo "$name  FAIL  $((SECONDS - T0))"
    tail -n 25 "$WORK/$name.log" | sed 's/^/    /'
    FAILED=1
  fi
done
echo "logs and executed notebooks: $WORK"
exit $FAILED
