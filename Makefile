# Two commands do everything: `make run` (set up, then run the pipeline on the local MongoDB server, which it
# starts on first use) and `make test` (set up, lint with ruff, then run the whole test suite). Both create
# .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := false

.PHONY: setup run api api-key lint test bench db-start db-status db-stop clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: setup
	$(BIN)/python flows/main.py $(ARGS)

# The prediction service (predictions, A/B tests, feedback; docs at /docs) on PIPELINE_API_HOST:PIPELINE_API_PORT
api: setup
	$(BIN)/python -m api

# A key for the service, printed once: make api-key ARGS="--name school-sis --scopes predict,read"
api-key: setup
	$(BIN)/python -m api.keys create $(ARGS)

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest $(ARGS)

bench: setup
	$(BIN)/python benchmarks/bench_data_path.py $(ARGS)

# The local MongoDB server (SecantusDB on loopback, serving data/mongo). Flows start it themselves; these keep
# it up for workers, the API and mongosh / Compass, show where it runs, and stop it.
db-start: setup
	$(BIN)/python -m infra.local_server start

db-status: setup
	$(BIN)/python -m infra.local_server status

db-stop: setup
	$(BIN)/python -m infra.local_server stop

clean: db-stop
	rm -rf data artifacts
