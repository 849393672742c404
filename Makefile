# One entry point for people and CI. Every target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.DEFAULT_GOAL := help
.PHONY: help install demo demo-cluster test lint bench clean browser postgresql redis nginx

help:
	@echo "make demo     simulate 2012-2013, run the pipelines, publish, serve on http://127.0.0.1:8000"
	@echo "make demo-cluster  the same past one machine: S3, PostgreSQL, Redis, two replicas behind nginx on :8000"
	@echo "make test     lint, then the whole test suite"
	@echo "make install  create $(VENV) with the pinned dependencies (idempotent)"
	@echo "make lint     ruff and mypy"
	@echo "make bench    benchmarks under bench/, figures to stdout"

# Re-installs only when the project or its pins change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/bawaba demo

# moto's S3 server comes with the dev extra ($(STAMP)); nginx and PostgreSQL with Debian.
demo-cluster: $(STAMP) postgresql redis nginx
	$(BIN)/bawaba demo --cluster

lint: $(STAMP)
	$(BIN)/ruff check platform pipelines tests bench
	$(BIN)/ruff format --check platform pipelines tests bench
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (Playwright must not download its own); install
# it on a fresh machine. tests/browser.py does the same when pytest runs on its own.
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# The key-store tests run Debian's PostgreSQL (tests/cluster/postgres.py starts a throwaway
# server on loopback); install it on a fresh machine, as that module does on its own.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql)

# The Redis tests run Debian's redis-server (tests/cluster/services.py starts a throwaway
# one on loopback, nothing persisted); install it on a fresh machine, as that module does.
redis:
	@test -x /usr/bin/redis-server || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server)

# The replica tests (tests/cluster/test_replicas.py) and the cluster demo put Debian's nginx
# in front of the API; tests/cluster/services.py installs it the same way on its own.
nginx:
	@test -x /usr/sbin/nginx || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx)

# The API suite a second time with its release on object storage (moto's S3 server).
API_SUITE := tests/test_api.py tests/test_api_errors.py tests/test_changes.py \
	tests/test_premium.py tests/test_parquet_url.py tests/test_ckan.py tests/test_portal.py

test: lint browser postgresql redis nginx
	$(BIN)/pytest -n 2 --dist loadgroup
	BAWABA_TEST_RELEASES_ON=s3 $(BIN)/pytest -n 2 --dist loadgroup $(API_SUITE)

# The benchmarks' own tools: Datasette (the [bench] extra) and wrk (Debian's package).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) postgresql redis nginx
	command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/publish.py
	$(BIN)/python bench/disclosure.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/key_store.py
	$(BIN)/python bench/counters.py --api 3000
	$(BIN)/python bench/object_storage.py
	$(BIN)/python bench/cluster.py
	$(BIN)/python bench/portal.py --datasets-dir bench/out/api-demo/datasets

# The key store goes with var/secrets/, whose secret its keys are hashed under: one without
# the other is unusable, and serve refuses to start on keys whose secret is gone.
clean:
	rm -rf var datasets/*/ .pytest_cache .mypy_cache .ruff_cache
	rm -f api_keys/*.sqlite*
