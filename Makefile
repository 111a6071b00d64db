# Quick start: `make demo` (run the getting-started notebook against the local
# collector) and `make test` (the whole suite). Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test lint demo bench collector clean chromium nginx java node-sdk typewriter tinyproxy

# `make demo` installs the package and its [demo] extra only (no Spark, no browser);
# `make test` adds everything the tests use.
$(DEMO_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check segment_magics tests scripts benchmarks
	$(PY) -m ruff format --check segment_magics tests scripts benchmarks
	$(PY) -m mypy

# The browser test drives Debian's chromium (never a downloaded browser build).
chromium:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the browser test"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# Spark runs on Java 17 or newer: Debian's default JRE when there is none.
java:
	@command -v java >/dev/null || { echo "installing Debian's Java runtime for the Spark tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq default-jre-headless; }

# Segment's official Node SDK, for the collector's compatibility test (from npm's registry).
NODE_SDK := build/node-sdk/node_modules/@segment/analytics-node
node-sdk:
	@command -v npm >/dev/null || { echo "installing Debian's Node.js for the Node SDK test"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	@test -d $(NODE_SDK) || npm install --silent --no-audit --no-fund --prefix build/node-sdk @segment/analytics-node@3.1.0

# A real forward proxy for the proxy tests: Debian's tinyproxy.
tinyproxy:
	@command -v tinyproxy >/dev/null || test -x /usr/bin/tinyproxy || { echo "installing Debian's tinyproxy for the proxy tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq tinyproxy; }

# Segment's Typewriter 9.2.0, for the plan round trip (TypeScript pinned: 9.2.0 breaks on 7).
TYPEWRITER := build/typewriter/node_modules/.bin/typewriter
typewriter: node-sdk
	@test -x $(TYPEWRITER) || npm install --silent --no-audit --no-fund --prefix build/typewriter typewriter@9.2.0 typescript@4.9.5

test: $(STAMP) lint chromium java node-sdk typewriter tinyproxy
	$(PY) -m pytest

# The benchmark's sink is Debian's nginx on 127.0.0.1 (started and stopped by the script).
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { echo "installing Debian's nginx-light"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light; }

# Every benchmark runs even when an earlier one misses a target; make bench fails if any did.
bench: $(STAMP) nginx java
	$(PY) -m pip install --quiet -e '.[bench]'
	mkdir -p build
	@status=0; \
	$(PY) benchmarks/bulk_vs_sdk.py --json build/bench.json || status=1; \
	$(PY) benchmarks/fault_table.py --json build/faults.json || status=1; \
	$(PY) benchmarks/collector_speed.py --json build/collector.json || status=1; \
	$(PY) benchmarks/plan_validation.py --json build/plans.json || status=1; \
	$(PY) benchmarks/distributed_speed.py --json build/distributed.json || status=1; \
	$(PY) benchmarks/audit_speed.py --json build/audit.json || status=1; \
	exit $$status

demo: $(DEMO_STAMP)
	$(PY) scripts/demo.py

collector: $(DEMO_STAMP)
	$(PY) -m segment_magics.collector

clean:
	rm -rf $(VENV) build test-artifacts .pytest_cache .ruff_cache
