#!/usr/bin/env bash
# The notebooks stage of CI, run the way a Colab reader runs them. Every chapter and every solution notebook
# is executed ONCE per `make test`, here, in smoke mode, with nbval checking its tagged outputs.
#
# 1. A virtual environment with only what Colab preinstalls (torch, numpy, matplotlib, scipy, pandas,
#    ipywidgets, ipykernel, nbconvert) at the versions requirements.txt pins, plus the test runner (pytest,
#    nbval, pytest-xdist), which the notebooks never import.
# 2. The course installed the way the README and each chapter's first cell install it:
#    pip install "aigc_lib[course] @ git+https://github.com/...", here pointed at a copy of this checkout
#    (not editable, so the notebooks see the installed copy, as on Colab). torchvision must not come with it.
# 3. Each notebook copied ALONE into an empty folder and executed there by nbval (--nbval-lax: the cells tagged
#    nbval-check-output must print what the committed notebook shows), two at a time at one thread each. A
#    notebook that needs a file from the repository, or a package the `course` extra lacks, fails here.
#    The time of each notebook is printed (the budget: 90 s each in smoke mode on 2 cores).
#
# The environment of steps 1-2 is kept in .venv-reader/ between runs while requirements.txt, pyproject.toml
# and this script are unchanged (their hash is its stamp): then only aigc_lib is installed again, from the
# current checkout. Its content is what a fresh one would hold (the same pinned versions); REUSE=0 rebuilds it.
#
# Usage: bash scripts/reader_route.sh [NOTEBOOK.ipynb ...]   (default: book/NN_*.ipynb and book/solutions/*.ipynb)
# Environment:
#   PYTHON=python3            the interpreter for the new environment
#   TORCH_INDEX_URL=...       where torch comes from (CI on GitHub: https://download.pytorch.org/whl/cpu,
#                             the small CPU build); unset: pip's default (here: the local CPU wheel)
#   READER_ROUTE_UNPINNED=1   install the extra's newest releases instead of requirements.txt's pins (rebuilds)
#   REUSE=0                   build the environment afresh even if its stamp matches
#   READER_VENV=.venv-reader  where the environment lives
#   NB_TIMEOUT=600            seconds one notebook may take in all
#   JOBS=2                    notebooks run at the same time
#   KEEP=1                    keep the temporary folder (executed notebooks' folders, logs)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
NB_TIMEOUT=${NB_TIMEOUT:-600}
JOBS=${JOBS:-2}
VENV=${READER_VENV:-$ROOT/.venv-reader}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/reader-route.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
if [ $# -gt 0 ]; then NOTEBOOKS=("$@"); else NOTEBOOKS=("$ROOT"/book/[0-9][0-9]_*.ipynb "$ROOT"/book/solutions/*.ipynb); fi

pin() {  # the requirements.txt line of a package (name==version), or the bare name when it is not pinned
  local line
  line=$(grep -iE "^$1==" "$ROOT/requirements.txt" | sed "s/ *#.*//" | head -n 1 || true)
  echo "${line:-$1}"
}

t0=$SECONDS
unset PYTHONPATH   # the notebooks must find the installed aigc_lib, not a checkout
STAMP=$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" "$0" | sha256sum | cut -c1-16)
STAMP="$STAMP ${TORCH_INDEX_URL:-} ${READER_ROUTE_UNPINNED:-0} $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
PY="$VENV/bin/python"
if [ "${REUSE:-1}" = 1 ] && [ "${READER_ROUTE_UNPINNED:-0}" != 1 ] && [ -x "$PY" ] \
   && [ "$(cat "$VENV/.stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "Colab-like environment: kept from the last run ($VENV; same requirements.txt, pyproject.toml and script)"
  FRESH=0
else
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$PY" -m pip install --quiet --upgrade pip
  # torch first, on its own, so that TORCH_INDEX_URL applies to it alone.
  "$PY" -m pip install --quiet $(pin torch) ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  "$PY" -m pip install --quiet $(pin torch) $(pin numpy) $(pin matplotlib) $(pin scipy) $(pin pandas) \
      $(pin ipywidgets) $(pin ipykernel) $(pin nbconvert) $(pin pytest) $(pin nbval) $(pin pytest-xdist)
  echo "Colab-like environment (new): $(( SECONDS - t0 )) s"
  FRESH=1
fi

t1=$SECONDS
CONSTRAINT=()
if [ "${READER_ROUTE_UNPINNED:-0}" != 1 ]; then
  grep -E '^[A-Za-z0-9_.-]+==' "$ROOT/requirements.txt" | sed 's/ *#.*//' > "$WORK/constraints.txt"
  CONSTRAINT=(-c "$WORK/constraints.txt")
fi
# Non-editable, from a copy of what the package is built from (pip builds in the source folder: the copy
# keeps build/ and *.egg-info out of the checkout). Files git ignores are left out, as in a clone.
mkdir "$WORK/src"
(cd "$ROOT" && git ls-files -co --exclude-standard -- pyproject.toml README.md 'LICENSE*' aigc_lib \
  | tar -cf - -T -) | tar -xf - -C "$WORK/src"
if [ "$FRESH" = 1 ]; then
  "$PY" -m pip install --quiet "${CONSTRAINT[@]}" "aigc_lib[course] @ file://$WORK/src"
  echo "$STAMP" > "$VENV/.stamp"
else   # the extra's packages are there already (same pyproject.toml): only the library, from this checkout
  "$PY" -m pip install --quiet --no-deps --force-reinstall "aigc_lib @ file://$WORK/src"
fi
"$PY" -m pip check
if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torchvision') is None)"; then
  echo "torchvision is installed in the reader's environment (by the course extra?): it must not be" >&2
  exit 1
fi
(cd "$WORK" && "$PY" -c "import aigc_lib, sys; assert 'site-packages' in aigc_lib.__file__, aigc_lib.__file__; \
print('aigc_lib from', aigc_lib.__file__)")
rm -rf "$WORK/src"   # (pytest-xdist puts its workers' folder, $WORK, on the kernels' PYTHONPATH)
echo "install line (aigc_lib[course]): $(( SECONDS - t1 )) s"

# Each notebook alone in an empty folder, named after it.
DIRS=()
for nb in "${NOTEBOOKS[@]}"; do
  name=$(basename "$nb" .ipynb)
  mkdir "$WORK/$name"
  cp "$nb" "$WORK/$name/"
  DIRS+=("$name/$name.ipynb")
done
cp "$ROOT/scripts/nb_times.py" "$WORK/"   # a pytest plugin: each notebook's time (see the file)

t2=$SECONDS
# Each kernel starts in its notebook's folder; nb_times.py has them talk over IPC files, not TCP ports.
rc=0
(cd "$WORK" && AIGC_SMOKE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 JUPYTER_PLATFORM_DIRS=1 \
  "$PY" -m pytest -q -p no:cacheprovider -p nb_times --nbval-lax --nbval-current-env \
    --nbval-cell-timeout="$NB_TIMEOUT" \
    -n "$JOBS" --dist loadfile "${DIRS[@]}") || rc=$?
echo "notebooks ($JOBS at a time): $(( SECONDS - t2 )) s; reader route in all: $(( SECONDS - t0 )) s"
if [ "$rc" != 0 ]; then
  echo "reader route: a notebook failed (pytest exit $rc; its cell and traceback above)" >&2
  exit "$rc"
fi
echo "reader route: all ${#NOTEBOOKS[@]} notebooks passed"
