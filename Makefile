# Two commands on a fresh machine: `make run` and `make test`. Both build .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP)
	exec $(BIN)/garageswarm up --exit-with-parent

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check bot hub jobs integrations tests bench

typecheck: $(STAMP)
	$(BIN)/mypy bot hub jobs integrations bench

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.dispatch
	$(BIN)/python -m bench.slack_ack
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) build *.egg-info
