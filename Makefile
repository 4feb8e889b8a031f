# OpenTLA developer entry points. Everything runs from a local virtualenv (.venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint typecheck clean screens

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,unit]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tla-unit demo

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Golden screens of the keypad UI (docs/screens/*.png), after a deliberate change.
screens: $(STAMP)
	PYTHONPATH=$(CURDIR) $(PY) tests/ui/screens.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy firmware board host_tools

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis .ruff_cache .mypy_cache
