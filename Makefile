# ingest: the news-feed ingestion pipeline. `make help` lists the targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# real news text the bench farm reads at run time (third-party: never copied into the repo)
NEWSDATA ?= ../shared/newsdata

.PHONY: help install browser run demo serve test test-fast lint format bench bench-quick bench-micro profile eval scale fuzz crash soak clean

help:
	@echo "make install     create .venv with the project and its dev tools"
	@echo "make run         add config/feeds.toml's feeds to data/ingest.db (removing none), run one pass"
	@echo "make demo        offline demo: local sample feeds -> ingest -> summary"
	@echo "make serve       the read API and web page on http://127.0.0.1:8080/ (data/ingest.db)"
	@echo "make test        the whole test suite (slow tests included)"
	@echo "make browser     install Debian's chromium + chromium-driver (the page's test; root)"
	@echo "make lint        ruff + mypy (strict on ingest/ and storage/)"
	@echo "make bench       speed benchmark against reader on a loopback farm of real news"
	@echo "make bench-quick the same at 100 feeds, one run a scenario (development)"
	@echo "make bench-micro the invented-word farm (a micro-benchmark)"
	@echo "make profile     where a cold article's CPU goes (cProfile, real-text farm)"
	@echo "make eval        story dedup quality (precision / recall / F1 / B-cubed)"
	@echo "make fuzz        long property-based fuzzing of parse | normalize | store (FUZZ_EXAMPLES=2000)"
	@echo "make crash       SIGKILL run / daemon CRASH_KILLS (50) times a backend, check the store each time"
	@echo "make soak        the daemon + cron runs for SOAK_MINUTES (60) on a changing farm: RSS, CPU, schedules"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# the web page's test drives a real browser; installed when missing (CI runs as root)
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver: present"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

run: install  # adds and updates the config's feeds; never removes one (see `feeds sync`)
	$(BIN)/ingest feeds sync --no-remove
	$(BIN)/ingest run

demo: install
	$(BIN)/python -m ingest.demo

serve: install
	$(BIN)/ingest serve

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
	$(BIN)/python -m bench.run_bench --floor --data $(NEWSDATA)

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

# SQLite and PostgreSQL (127.0.0.1:5432, a database made for the run and dropped after)
CRASH_KILLS ?= 50
crash: install
	$(BIN)/python -m bench.crash --kills $(CRASH_KILLS)

SOAK_MINUTES ?= 60
soak: install
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) data bench/out .pytest_cache .mypy_cache .ruff_cache .hypothesis

profile: install
	$(BIN)/python -m bench.profile_cold --data $(NEWSDATA)
