#!/usr/bin/env bash
# Every test of the course, in the order CI runs them. Called by `make test` (after `make setup`).
# Prints the time each stage took.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1   # two pytest workers at one thread each (see CONTRIBUTING.md)
export PYTHONUNBUFFERED=1   # (no MPLBACKEND: notebooks need the inline backend for their figures)
declare -a TIMES=()
stage() {
  local name=$1; shift
  echo; echo "=== $name"
  local t0=$SECONDS
  "$@"
  TIMES+=("$(printf '%-34s %4d s' "$name" $((SECONDS - t0)))")
}

stage "unit tests (pytest tests)"          $BIN/python -m pytest tests -q -n 2 --dist loadfile
stage "notebooks (nbval, smoke mode)"      env AIGC_SMOKE=1 $BIN/python -m pytest book -q -n 2 --dist loadfile \
                                               --nbval-lax --nbval-current-env --durations=0
stage "reader route (Colab-like venv)"     bash scripts/reader_route.sh   # each chapter alone, see the script
rm -rf _build
stage "site build (jupyter-book -W)"       $BIN/jupyter-book build . -W --keep-going
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium (Debian package) for the site check"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is needed for the site check: sudo apt-get install chromium (or set CHROMIUM=/path/to/it)" >&2
    return 1
  fi
}
stage "chromium (install if missing)"     ensure_chromium
stage "site check (headless Chromium)"     $BIN/python scripts/check_site.py _build/html
# the instructors' build without the worked solutions (make book SOLUTIONS=0), checked the same way
stage "site build without solutions"       env AIGC_BOOK_SOLUTIONS=0 $BIN/jupyter-book build . -W --keep-going \
                                               --path-output _build/no_solutions
stage "site check without solutions"       $BIN/python scripts/check_site.py _build/no_solutions/_build/html --no-solutions

echo; echo "=== stage times"
printf '%s\n' "${TIMES[@]}"
