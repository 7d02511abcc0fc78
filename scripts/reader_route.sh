#!/usr/bin/env bash
# The "reader route": run every chapter the way a Colab reader does.
#
# 1. A fresh virtual environment with only what Colab preinstalls (torch, numpy, matplotlib, scipy,
#    pandas, ipywidgets, ipykernel, nbconvert), at the versions requirements.txt pins.
# 2. The course installed the way the README and each chapter's first cell install it:
#    pip install "aigc_lib[course] @ git+https://github.com/...", here pointed at this checkout
#    (not editable, so the notebooks see the installed copy, as on Colab).
# 3. Each chapter notebook copied ALONE into an empty folder and executed there in smoke mode,
#    two at a time at one thread each. A chapter that needs a file from the repository, or a package
#    the `course` extra lacks, fails here. Kernels talk over IPC files in their own folders: over TCP, two
#    kernels started at the same moment can pick the same ports, and a notebook then waits forever
#    (2 of 7 hung until the timeout in one run).
#
# Usage: bash scripts/reader_route.sh [book/NN_topic.ipynb ...]   (default: every chapter in book/)
# Environment:
#   PYTHON=python3            the interpreter for the new environment
#   TORCH_INDEX_URL=...       where torch comes from (CI on GitHub: https://download.pytorch.org/whl/cpu,
#                             the small CPU build); unset: pip's default (here: the local CPU wheel)
#   READER_ROUTE_UNPINNED=1   install the extra's newest releases instead of requirements.txt's pins
#   NB_TIMEOUT=600            seconds one notebook may take in all
#   JOBS=2                    notebooks run at the same time
#   KEEP=1                    keep the temporary folder (environment, executed notebooks, logs)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
NB_TIMEOUT=${NB_TIMEOUT:-600}
JOBS=${JOBS:-2}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/reader-route.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "keeping $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
if [ $# -gt 0 ]; then NOTEBOOKS=("$@"); else NOTEBOOKS=("$ROOT"/book/[0-9][0-9]_*.ipynb); fi

pin() {  # the requirements.txt line of a package (name==version), or the bare name when it is not pinned
  local line
  line=$(grep -iE "^$1==" "$ROOT/requirements.txt" | sed "s/ *#.*//" || true)
  echo "${line:-$1}"
}

t0=$SECONDS
unset PYTHONPATH   # the notebooks must find the installed aigc_lib, not a checkout
"$PYTHON" -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
"$PY" -m pip install --quiet --upgrade pip
# torch first, on its own, so that TORCH_INDEX_URL applies to it alone.
"$PY" -m pip install --quiet $(pin torch) ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
"$PY" -m pip install --quiet $(pin torch) $(pin numpy) $(pin matplotlib) $(pin scipy) $(pin pandas) \
    $(pin ipywidgets) $(pin ipykernel) $(pin nbconvert)
echo "Colab-like environment: $(( SECONDS - t0 )) s"

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
"$PY" -m pip install --quiet "${CONSTRAINT[@]}" "aigc_lib[course] @ file://$WORK/src"
"$PY" -m pip check
(cd "$WORK" && "$PY" -c "import aigc_lib, sys; assert 'site-packages' in aigc_lib.__file__, aigc_lib.__file__; \
print('aigc_lib from', aigc_lib.__file__)")
echo "install line (aigc_lib[course]): $(( SECONDS - t1 )) s"

run_one() {  # run_one NOTEBOOK -> runs it alone in an empty folder; prints one result line
  local nb=$1 name dir start rc
  name=$(basename "$nb" .ipynb)
  dir=$(mktemp -d "$WORK/$name.XXXX")
  cp "$nb" "$dir/"
  start=$SECONDS
  rc=0
  (cd "$dir" && AIGC_SMOKE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 timeout "$NB_TIMEOUT" \
      "$WORK/venv/bin/jupyter" nbconvert --execute --to notebook --output executed.ipynb \
      --ExecutePreprocessor.timeout="$NB_TIMEOUT" --ExecutePreprocessor.kernel_name=python3 \
      --KernelManager.transport=ipc \
      "$name.ipynb" >"$dir/log.txt" 2>&1) || rc=$?
  if [ "$rc" = 0 ]; then
    printf 'PASS %-22s %4d s\n' "$name" $(( SECONDS - start ))
  else
    printf 'FAIL %-22s %4d s (exit %s; log below)\n' "$name" $(( SECONDS - start )) "$rc"
    tail -n 25 "$dir/log.txt" | sed 's/^/    /'
  fi
}
export -f run_one
export WORK NB_TIMEOUT

t2=$SECONDS
printf '%s\n' "${NOTEBOOKS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one "$1"' _ {} | tee "$WORK/results.txt"
echo "notebooks ($JOBS at a time): $(( SECONDS - t2 )) s; reader route in all: $(( SECONDS - t0 )) s"
passed=$(grep -c '^PASS' "$WORK/results.txt" || true)
if [ "$passed" != "${#NOTEBOOKS[@]}" ]; then
  echo "reader route: $passed of ${#NOTEBOOKS[@]} chapters passed" >&2
  exit 1
fi
echo "reader route: all ${#NOTEBOOKS[@]} chapters passed"
