# Two entry points: `make demo` and `make test`. Both create .venv and install everything first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	@command -v tc >/dev/null 2>&1 || apt-get install -y iproute2 || echo "iproute2 missing: live emulation tests will skip"
	@command -v prometheus >/dev/null 2>&1 || apt-get install -y prometheus || echo "prometheus missing: its tests will skip"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,emulate,gnn,ns3,ops,ray,tabular]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ndtwin demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 -q

clean:
	rm -rf $(VENV) build src/*.egg-info
