# The README's commands. Each target creates and uses .venv/ on its own.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install data up test lint typecheck pytest train bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

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

pytest: $(STAMP) data
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
	$(BIN)/python -m bench.summary_cost
	$(BIN)/python -m bench.best_recipe
	$(BIN)/python -m bench.sweep_dropout_l2

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
