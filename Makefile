# DeployKit. `make run` and `make test` install what they need first (idempotent, quick when done).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
ARGS ?=
PYTEST_ARGS ?=

.PHONY: install system docker swarm test-image debian-image dist frontend frontend-test api-types run dev dev-frontend test lint format bench clean

install: $(STAMPS)/venv

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

system:
	@scripts/ensure-system-packages.sh

docker:
	@scripts/ensure-docker.sh

# A single-node swarm manager on the engine (idempotent): the Swarm runtime's contract tests.
swarm: docker
	@scripts/ensure-swarm.sh

test-image: docker
	@scripts/build-test-image.sh

debian-image: docker system
	@scripts/build-debian-image.sh

# The release: a wheel with the built web UI and the systemd unit inside, and install.sh beside it.
dist: install frontend
	@test -f deploykit_http/spa_assets/index.html || { echo "make dist: the web UI is not built" >&2; exit 1; }
	rm -rf dist && $(BIN)/pip wheel -q --no-deps -w dist .
	cp install.sh dist/
	@ls -1 dist

frontend:
	@if [ -x scripts/build-frontend.sh ]; then scripts/build-frontend.sh; fi

frontend-test:
	@if [ -x scripts/build-frontend.sh ]; then scripts/build-frontend.sh test; fi

# The frontend's API types (frontend/src/api/schema.d.ts, checked in) from /api/openapi.json; a test
# fails while they differ from a fresh generation.
api-types: install
	@scripts/build-frontend.sh api-types

run: install docker frontend
	$(BIN)/deploykitd serve $(ARGS)

dev: install docker
	$(BIN)/deploykitd serve --log-level debug --cors-origin http://localhost:5173 --allow-local-repos $(ARGS)

dev-frontend:
	cd frontend && npm ci && npx vite

# Most of a test's time is spent waiting on Docker, Caddy and Chromium, not on the CPU: the suite runs
# on TEST_WORKERS pytest-xdist workers (0: in this process), a test file at a time; the files that touch the
# shared swarm take turns (tests/conftest.py).
TEST_WORKERS ?= 3
test: install system swarm test-image debian-image frontend frontend-test
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install test-image frontend
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(STAMPS) .mypy_cache .ruff_cache .pytest_cache deploykit_http/spa_assets frontend/node_modules
