#!/usr/bin/env bash
# Every test of the course, in the order CI runs them. Called by `make test` (after `make setup`).
# Prints the time each stage took, and the total.
#
# Each thing is done once:
# - every notebook (chapters and solutions) is executed once, in smoke mode, inside the Colab-like environment
#   of scripts/reader_route.sh (nbval checks the tagged outputs there);
# - the browser checks run once, on the full site. The site without solutions (make book SOLUTIONS=0) is built
#   while they run and checked without a browser: no solution, link or promise left, and each of its pages is
#   the full site's page less its solution links (check_site.py --same-as), so the browser's findings hold for it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1   # two pytest workers at one thread each (see CONTRIBUTING.md)
export PYTHONUNBUFFERED=1   # (no MPLBACKEND: notebooks need the inline backend for their figures)
declare -a TIMES=()
T_ALL=$SECONDS
record() { TIMES+=("$(printf '%-58s %4d s' "$1" "$2")"); }
stage() {
  local name=$1; shift
  echo; echo "=== $name"
  local t0=$SECONDS
  "$@"
  record "$name" $((SECONDS - t0))
}
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

stage "chromium (install if missing)"                          ensure_chromium   # (unit tests use it too)
stage "unit tests (pytest tests)"                              $BIN/python -m pytest tests -q -n 2 --dist loadfile
stage "notebooks, each once, in a Colab-like venv (nbval)"    bash scripts/reader_route.sh
rm -rf _build
stage "site build (jupyter-book -W)"                           $BIN/jupyter-book build . -W --keep-going

# The instructors' build without the worked solutions (make book SOLUTIONS=0), beside the browser check.
echo; echo "=== site build without solutions (in the background, beside the site check)"
t_nosol=$SECONDS
(AIGC_BOOK_SOLUTIONS=0 $BIN/jupyter-book build . -W --keep-going --path-output _build/no_solutions \
   > _build/no_solutions.log 2>&1; echo $? > _build/no_solutions.rc; echo $((SECONDS - t_nosol)) > _build/no_solutions.s) &
nosol_pid=$!
stage "site check (headless Chromium)"                         $BIN/python scripts/check_site.py _build/html
wait "$nosol_pid" || true
if [ "$(cat _build/no_solutions.rc)" != 0 ]; then
  cat _build/no_solutions.log; echo "site build without solutions failed" >&2; exit 1
fi
tail -n 3 _build/no_solutions.log
record "site build without solutions (beside the site check)" "$(cat _build/no_solutions.s)"
stage "site check without solutions (no browser: = full site)" $BIN/python scripts/check_site.py \
    _build/no_solutions/_build/html --no-solutions --static-only --same-as _build/html

echo; echo "=== stage times"
printf '%s\n' "${TIMES[@]}"
printf '%-58s %4d s\n' "all stages (wall)" $((SECONDS - T_ALL))
