# OpenTLA developer entry points. Everything runs from a local virtualenv (.venv).
# `make demo` needs only python3 and python3-venv; `make test` also installs the
# Debian packages the tests need (scripts/test-deps.sh) and the dev + pcsc extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_STAMP := $(VENV)/.installed-demo
TEST_STAMP := $(VENV)/.installed-test
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)

.PHONY: demo demo-gif test bench lint typecheck test-deps clean screens bundle image image-test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The demo's venv: the base package and the office tools, no pyscard.
$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[host]'
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY) test-deps
	$(PY) -m pip install -q -e '.[host,unit,dev,pcsc]'
	touch $@

test-deps:
	@sh scripts/test-deps.sh

# The day, kept in var/demo (the unit, the office files, the screens of the day
# as PNGs in var/demo/screens/ and the day as a GIF, var/demo/day.gif).
demo: $(DEMO_STAMP)
	rm -rf var/demo
	$(VENV)/bin/tla-unit demo --state var/demo

test: $(TEST_STAMP)
	$(PY) -m pytest

bench: $(TEST_STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The signed update bundle of this tree at its version (docs/update-office.md); the
# development key unless KEY=path/to/key.pem.
bundle: $(DEMO_STAMP)
	$(VENV)/bin/tla bundle build --version $(VERSION) $(if $(KEY),--key $(KEY)) \
		-o dist/opentla-$(VERSION).bundle

# Golden screens of the keypad UI (docs/screens/*.png) and the README's GIF of the
# demo's day (docs/screens/day.gif), after a deliberate change.
screens: $(TEST_STAMP) demo-gif
	PYTHONPATH=$(CURDIR) $(PY) tests/ui/screens.py

demo-gif: $(DEMO_STAMP)
	rm -rf var/demo-gif
	$(VENV)/bin/tla-unit demo --state var/demo-gif > /dev/null
	cp var/demo-gif/day.gif docs/screens/day.gif

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	shellcheck flash.sh board/os/opentla-gadget.sh

typecheck: $(TEST_STAMP)
	$(VENV)/bin/mypy firmware board host_tools

# The unit's SD-card image and its boot test under QEMU (docs/image.md). Slow (minutes)
# and need root, mmdebstrap, qemu-user-static and qemu-system-arm: not part of make test.
image: | $(PY)
	PYTHON=$(PY) bash board/image/build.sh build/image

image-test: $(TEST_STAMP)
	PYTHONPATH=$(CURDIR) $(PY) board/image/boot_test.py build/image

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis .ruff_cache .mypy_cache
