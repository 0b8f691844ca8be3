# Two entry points: `make demo` and `make test`. Both create .venv and install everything first, at the exact
# versions of constraints.txt (`make lock` rewrites it from the current .venv).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install demo test lock wheel-check clean

EXTRAS  = dev,emulate,gnn,kg,ns3,ops,ray,service,tabular
# Debian packages of the live emulation, telemetry and browser tests (installed when missing; apt needs root).
DEBIAN  = iproute2 prometheus chromium chromium-driver

$(STAMP): pyproject.toml constraints.txt
	@missing=$$(for p in $(DEBIAN); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		(apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >/dev/null \
			|| echo "could not install $$missing: the tests that need them will skip"; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ndtwin demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 -o console_output_style=count --durations=10  # counts done/total; slowest tests

lock: $(STAMP)
	echo "# Exact versions the tests pass with; used by 'make install', rewritten by 'make lock'." > constraints.txt
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^ndtwin==' >> constraints.txt
	touch $(STAMP)  # the venv already has these versions

# Build the wheel, install it in a fresh venv outside the source tree and run the demo there (several minutes).
wheel-check: $(STAMP)
	nice -n 10 $(BIN)/python bench/wheel_check.py

clean:
	rm -rf $(VENV) build src/*.egg-info
