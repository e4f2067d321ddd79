# The README's commands. Each target creates and uses .venv/ on its own.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock

.PHONY: install lock data up test lint typecheck pytest train bench clean

install: $(STAMP)

# Every dependency from the dev lock (runtime + dev, pinned with hashes), then the
# project itself without resolving anything again. uv installs them (the lock's own
# tool, pinned below): from a warm cache in seconds, where pip takes a minute and a half.
$(STAMP): pyproject.toml $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r $(DEV_LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# KServe's REST client, which the protocol tests call the service with, in a venv of
# its own: its pins (fastapi, protobuf, prometheus-client, boto3) cannot sit beside the
# service's. $(KSERVE_LOCK) pins it, with hashes.
KSERVE_VENV := .venv-kserve
KSERVE_LOCK := tests/support/kserve.lock
KSERVE_STAMP := $(KSERVE_VENV)/.installed

$(KSERVE_STAMP): $(KSERVE_LOCK)
	test -x $(KSERVE_VENV)/bin/python || $(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(KSERVE_VENV)/bin/uv pip install --quiet --python $(KSERVE_VENV)/bin/python \
		--require-hashes -r $(KSERVE_LOCK)
	touch $(KSERVE_STAMP)

# The lock files, from pyproject.toml: $(LOCK) (the runtime dependencies, for the
# Dockerfile) and $(DEV_LOCK) (runtime + the dev extra, for `make install`), and
# $(KSERVE_LOCK) from its .in file,
# resolved with hashes for CPython 3.11 on Linux x86_64 whatever machine runs this.
# The tool is uv's `pip compile`, uv $(UV_VERSION) installed from the package index
# into a throwaway venv, so python3 and the index are all it needs. The dev lock is
# resolved within the runtime lock's pins, so the two agree on every package they
# share. Pins that still satisfy pyproject.toml are kept; `make lock UPGRADE=1`
# moves every package to its newest allowed release.
UV_VERSION := 0.13.9
LOCK_FLAGS := --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command 'make lock' \
	$(if $(UPGRADE),--upgrade)

lock:
	tools=$$(mktemp -d) && trap 'rm -rf "$$tools"' EXIT && \
	$(PYTHON) -m venv "$$tools" && \
	"$$tools/bin/python" -m pip install --quiet 'uv==$(UV_VERSION)' && \
	"$$tools/bin/uv" pip compile pyproject.toml $(LOCK_FLAGS) -o $(LOCK) && \
	"$$tools/bin/uv" pip compile pyproject.toml --extra dev -c $(LOCK) $(LOCK_FLAGS) -o $(DEV_LOCK) && \
	"$$tools/bin/uv" pip compile $(KSERVE_LOCK:.lock=.in) $(LOCK_FLAGS) -o $(KSERVE_LOCK)

# The IMDB data at SENTIMENT_IMDB_PATH (default data/aclImdb): extracted from a
# local aclImdb_v1.tar.gz when there is one, downloaded otherwise.
data: $(STAMP)
	$(BIN)/python -m worker.training prepare-data

# The API and one worker, on SQLite and a SQLite broker unless configured otherwise.
up: $(STAMP)
	$(BIN)/python -m app

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(KSERVE_STAMP) data
	$(BIN)/python -m pytest

test: lint typecheck pytest

# make train SPEC=spec.json OUT=models/lstm
train: $(STAMP) data
	$(BIN)/python -m worker.training train $(SPEC) --out $(OUT)

bench: $(STAMP) data
	$(BIN)/python -m bench.text_cache
	$(BIN)/python -m bench.pipeline_overhead
	$(BIN)/python -m bench.course_table
	$(BIN)/python -m bench.predict_load
	$(BIN)/python -m bench.bag_text_path
	$(BIN)/python -m bench.summary_cost
	$(BIN)/python -m bench.best_recipe
	$(BIN)/python -m bench.sweep_dropout_l2

clean:
	rm -rf $(VENV) $(KSERVE_VENV) .mypy_cache .ruff_cache .pytest_cache
