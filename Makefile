# Two commands for a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check fmt venv proto proto-check bench clean tools

# The `ray` extra is part of the test install: the Ray tests run on a local multi-node cluster in CI
# (tests/integration/test_zone_ray.py, test_ray_blind.py), never skipped.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev,ray]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PYTHONDONTWRITEBYTECODE=1 $(BIN)/zhongli demo --out demo-out

# strace lets the suite prove that the zone writes nothing (tests/integration/test_no_disk.py);
# installed when this machine allows it (root + apt), otherwise that test says why it skipped.
# Chromium (Debian's package, driven by Playwright from the dev extra) lets the suite test the auditor
# console in a real browser (tests/integration/test_console.py); same rule.
tools:
	@command -v strace >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq strace >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq strace >/dev/null 2>&1)) ; } || \
	  echo "strace not installed: the no-disk trace test will be skipped"
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1)) ; } || \
	  echo "chromium not installed: the auditor console's browser test will be skipped"

# Lint, format and types (CONTRIBUTING.md): a finding fails `make test`, and so CI.
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m deploy.tooling.protogen --check

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: check tools
	$(BIN)/python -m pytest -q

proto: $(STAMP)
	$(BIN)/python -m deploy.tooling.protogen

proto-check: $(STAMP)
	$(BIN)/python -m deploy.tooling.protogen --check

bench: $(STAMP)
	$(BIN)/python -m tests.bench.bench_pseudonyms
	$(BIN)/python -m tests.bench.bench_lead_rating --leads 100000 1000000
	$(BIN)/python -m tests.bench.bench_dp_attribution --leads 100000 1000000 --draws 20 10

clean:
	rm -rf $(VENV) demo-out
