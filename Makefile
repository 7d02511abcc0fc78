# AIGC from Scratch: one entry point for readers, instructors and CI.
#   make book   - set up, then build the site into _build/html (make book SOLUTIONS=0: without the worked solutions)
#   make test   - set up, then run every test (what CI runs)
#   make lab    - set up, then open the notebooks in JupyterLab
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# SOLUTIONS=0: build the site without book/solutions/ and without the chapters' links to it (_ext/solutions.py)
SOLUTIONS ?= 1

.PHONY: setup book lab test unit notebooks site check-site run-notebook bench clean

$(STAMP): requirements.txt pyproject.toml
	@set -e; t0=$$(date +%s); \
	$(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --upgrade pip; \
	$(BIN)/python -m pip install --quiet -r requirements.txt; \
	$(BIN)/python -m pip install --quiet --no-deps -e .; \
	touch $(STAMP); \
	echo "=== setup (virtual environment and requirements) took $$(( $$(date +%s) - t0 )) s"

setup: $(STAMP)

book: setup
	rm -rf _build   # a build with the other SOLUTIONS setting must not leave its pages behind
	AIGC_BOOK_SOLUTIONS=$(SOLUTIONS) $(BIN)/jupyter-book build . -W --keep-going
	@echo "Open _build/html/index.html in a browser."

# binder/overrides.json: JupyterLab opens a chapter's .md twin as a notebook (jupytext) on double-click
lab: setup
	install -D -m 644 binder/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(BIN)/jupyter lab book/

test: setup
	bash scripts/test_all.sh

unit: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests -q -n 2 --dist loadfile

notebooks: setup
	AIGC_SMOKE=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env -q -n 2 --dist loadfile book

# Re-run one chapter top to bottom in its real mode and save the outputs (NB= the .md or the .ipynb):
#   make run-notebook NB=book/01_training_loop.md
# jupytext first carries edits of the text half (.md) into the notebook, keeping the outputs of unchanged cells.
run-notebook: setup
	$(BIN)/jupytext --sync $(basename $(NB)).md
	cd $(dir $(NB)) && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.kernel_name=python3 $(notdir $(basename $(NB))).ipynb

bench: setup
	$(BIN)/python -m benchmarks.gpt_cpu

clean:
	rm -rf _build
