# Thin wrappers: the work is in `insats` (scripts/cli.py) and pytest. Every install step lives here,
# so a fresh clone needs nothing but Python 3.11, Java 17 and Maven on the machine.
SHELL := /bin/bash
UV_VERSION := 0.13.9
BOOTSTRAP := .cache/bootstrap
UV := $(BOOTSTRAP)/bin/uv
VENV := .venv
INSATS := $(VENV)/bin/insats
PYTEST := $(VENV)/bin/pytest

.PHONY: demo test stack-install system-deps lint typecheck contracts up down status bench clean

# The main job: the platform end to end on the local stack, with the demo scenario.
demo: $(VENV)/.synced
	$(INSATS) demo

# The whole test suite: static checks, then unit, integration, end-to-end and fault tests.
test: $(VENV)/.synced system-deps lint typecheck stack-install
	$(PYTEST) tests

# Kafka and the database server, installed and built (cargo: minutes, once) before any test runs,
# so that no test's time limit is spent on a build.
stack-install: $(VENV)/.synced
	$(INSATS) stack install

# Debian packages the tests drive: Chromium (dashboard tests) and kcat (a municipal publisher).
system-deps:
	@command -v chromium >/dev/null && command -v kcat >/dev/null || scripts/install_system_packages.sh

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy shared services scripts tests bench deploy/compose_demo.py

# Regenerate docs/contract (AsyncAPI, JSON Schemas, index) after changing shared/contracts.
contracts: $(VENV)/.synced
	$(INSATS) contract generate

up: $(VENV)/.synced
	$(INSATS) stack up

down: $(VENV)/.synced
	$(INSATS) stack down

status: $(VENV)/.synced
	$(INSATS) stack status

bench: $(VENV)/.synced
	$(VENV)/bin/python -m bench.e2e $(BENCH_ARGS)
	$(VENV)/bin/python -m bench.rebuild

$(UV):
	python3 -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/pip install --quiet uv==$(UV_VERSION)

# Re-sync whenever the lock file changes; --frozen fails rather than silently re-resolving.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python python3
	touch $@

clean:
	rm -rf $(VENV) $(BOOTSTRAP) .pytest_cache .mypy_cache .ruff_cache
