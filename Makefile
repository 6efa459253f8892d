# dqngen: two commands on a fresh machine.
#   make lab   - create .venv, install the course, open JupyterLab on the first lesson
#   make test  - install if needed, then run every test (unit tests, lessons, solutions, exercises)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheels by default; a torch that is already installed in the venv is kept.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
STAMP := $(VENV)/.dqngen-installed
PYTEST_FLAGS ?=

.PHONY: install lab test test-unit test-notebooks exercises bench results gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(if $(shell $(PYTHON) -c 'import torch' 2>/dev/null && echo y),--system-site-packages) $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@if $(PY) -c 'import torch' 2>/dev/null; then \
	  echo "keeping installed torch $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	else \
	  $(PY) -m pip install -q --retries 1 --timeout 30 --index-url $(TORCH_INDEX) 'torch>=2.2,<3'; \
	fi
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dqngen)" >/dev/null
	@touch $(STAMP)

# As root (a container) JupyterLab needs --allow-root; with no display it cannot open a browser, so it
# only prints the URL to open. LAB_ARGS passes more options, e.g. LAB_ARGS="--ip 0.0.0.0 --port 8888".
LAB_ARGS ?=
lab: install
	@args="$(LAB_ARGS)"; \
	if [ "$$(id -u)" = "0" ]; then args="$$args --allow-root"; fi; \
	if [ "$$(uname)" != "Darwin" ] && [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ]; then args="$$args --no-browser"; fi; \
	echo "Starting JupyterLab on notebooks/00_tour.ipynb: open the http://127.0.0.1:... URL it prints below (Ctrl-C stops it)."; \
	exec $(VENV)/bin/jupyter lab $$args notebooks/00_tour.ipynb

test: install
	@if [ "$$CI" = "true" ] && ! command -v chromium >/dev/null; then \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || echo "chromium could not be installed"; \
	fi
	env -u MPLBACKEND FAST=1 $(PY) -m pytest $(PYTEST_FLAGS) tests notebooks \
	  --nbval --nbval-sanitize-with $(CURDIR)/tests/sanitize.cfg --nbval-current-env
	env -u MPLBACKEND FAST=1 $(PY) -m pytest $(PYTEST_FLAGS) solutions exercises --nbval-lax --nbval-current-env

exercises:
	$(PY) tools/make_exercises.py

bench: install
	$(VENV)/bin/dqngen bench

# The multi-seed experiments behind the lessons' comparisons (hours on a 2-core CPU; run on an idle machine).
# An existing result file is kept unless FORCE=--force.
EXPERIMENTS ?= planners pixel-gamma0 pixel-bootstrap seed-fixes pen-dqn pen-gamma0 pen-ablations gen-rewards gen-pen \
  gen-adversarial gen-vs-gan gen-long
results: install
	@for e in $(EXPERIMENTS); do \
	  if [ -e results/$$e.json ] && [ -z "$(FORCE)" ]; then echo "results/$$e.json exists: kept (FORCE=--force remakes it)"; \
	  else $(VENV)/bin/dqngen experiment $$e $(FORCE) || exit 1; fi; \
	done
	$(PY) tools/results_index.py

# On a machine with a CUDA GPU: lesson 08 and the benchmarks on the GPU, into results/gpu (about 6 minutes).
gpu-check: install
	$(PY) tools/gpu_check.py --out results/gpu

clean:
	rm -rf $(VENV)
