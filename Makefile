# Two commands do everything: `make run` (set up, then run the pipeline on the local MongoDB server, which it
# starts on first use) and `make test` (set up with the test tools, lint with ruff, then run the whole test suite).
# Both create .venv on first use; `make run` installs what the pipeline needs, not pytest or ruff.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := false

.PHONY: setup test-setup run api api-key lint test bench db-start db-status db-stop mongosh clean

setup: $(VENV)/.installed

test-setup: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# a venv made before held the GPU build of xgboost; the CPU-only one replaces it on Linux x86_64
	@if [ "$$(uname -s -m)" = "Linux x86_64" ] && $(BIN)/python -m pip show -q xgboost >/dev/null 2>&1; then \
		$(BIN)/python -m pip uninstall --quiet -y xgboost nvidia-nccl-cu12; fi
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# the tests cover the PyTorch hand-off too: the CPU build of torch first (pinned: on this platform's package index a
# plain "torch" is a CUDA build of several GB), then the test tools
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[test,torch]"
	touch $@

run: setup
	$(BIN)/python flows/main.py $(ARGS)

# The prediction service (predictions, A/B tests, feedback; docs at /docs) on PIPELINE_API_HOST:PIPELINE_API_PORT
api: setup
	$(BIN)/python -m api

# A key for the service, printed once: make api-key ARGS="--name school-sis --scopes predict,read"
api-key: setup
	$(BIN)/python -m api.keys create $(ARGS)

lint: test-setup
	$(BIN)/ruff check .

# one pytest worker per core (pytest-xdist), each with its own local MongoDB server and Prefect test server; a test
# file stays on one worker, so a module's shared fixtures (a trained store, a running service) are built once; files
# go out in collection order, the longest first (tests/conftest.py), not xdist's most-tests-first
test: lint
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder $(ARGS)

bench: setup
	$(BIN)/python benchmarks/bench_data_path.py $(ARGS)

# The local MongoDB server (SecantusDB on loopback, serving data/mongo). Flows start it themselves; these keep
# it up for workers, the API and mongosh / Compass, show where it runs, and stop it.
db-start: setup
	$(BIN)/python -m infra.local_server start

# status and stop need no set-up (a checkout without .venv may still have a server running from before)
LOCAL_PYTHON = $$(if [ -x $(BIN)/python ]; then echo $(BIN)/python; else echo $(PYTHON); fi)

db-status:
	@$(LOCAL_PYTHON) -m infra.local_server status

db-stop:
	@$(LOCAL_PYTHON) -m infra.local_server stop

# mongosh on the local server's pipeline database. --quiet: the server answers mongosh's startup-warnings request
# with its whole connection log (a SecantusDB limitation: getLog ignores which log is asked for).
mongosh: setup
	mongosh --quiet "$$($(BIN)/python -m infra.local_server uri)"

clean: db-stop
	rm -rf data artifacts
