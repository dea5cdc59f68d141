# ingest: the news-feed ingestion pipeline. `make help` lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# real news text the bench farm reads at run time (third-party: never copied into the repo)
NEWSDATA ?= ../shared/newsdata

.PHONY: help install run demo test test-fast lint format bench bench-quick bench-micro profile eval scale fuzz clean

help:
	@echo "make install     create .venv with the project and its dev tools"
	@echo "make run         add config/feeds.toml's feeds to data/ingest.db (removing none), run one pass"
	@echo "make demo        offline demo: local sample feeds -> ingest -> summary"
	@echo "make test        the whole test suite (slow tests included)"
	@echo "make lint        ruff + mypy (strict on ingest/ and storage/)"
	@echo "make bench       speed benchmark against reader on a loopback farm of real news"
	@echo "make bench-quick the same at 100 feeds, one run a scenario (development)"
	@echo "make bench-micro the invented-word farm (a micro-benchmark)"
	@echo "make profile     where a cold article's CPU goes (cProfile, real-text farm)"
	@echo "make eval        story dedup quality (precision / recall / F1 / B-cubed)"
	@echo "make fuzz        long property-based fuzzing of parse | normalize | store (FUZZ_EXAMPLES=2000)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install  # adds and updates the config's feeds; never removes one (see `feeds sync`)
	$(BIN)/ingest feeds sync --no-remove
	$(BIN)/ingest run

demo: install
	$(BIN)/python -m ingest.demo

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench.run_bench --data $(NEWSDATA)

bench-quick: install
	$(BIN)/python -m bench.run_bench --quick --data $(NEWSDATA)

bench-micro: install
	$(BIN)/python -m bench.run_bench --text words --no-politeness

eval: install
	$(BIN)/python -m bench.dedup_eval

scale: install
	$(BIN)/python -m bench.dedup_scale

# `make test` runs the fuzz tests' "ci" profile (a few derandomized examples); this runs
# many random ones (FUZZ_EXAMPLES each property) and keeps failures in .hypothesis/
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -x --timeout=0 tests/test_fuzz_pipeline.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) data bench/out .pytest_cache .mypy_cache .ruff_cache .hypothesis

profile: install
	$(BIN)/python -m bench.profile_cold --data $(NEWSDATA)
