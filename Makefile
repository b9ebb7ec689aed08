# `make run` and `make test` are the two entry points (README). Both build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: run test lint format bench clean

$(VENV)/.runtime: pyproject.toml agent/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -e ./agent --config-settings editable_mode=compat
	$(PY) -m compileall -q agent/assist_agent
	$(PY) -m pip install $(PIP_FLAGS) -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PY) -m pip install $(PIP_FLAGS) -e '.[test]'
	touch $@

run: $(VENV)/.runtime
	$(PY) manage.py serve --host 127.0.0.1 --port 8000

test: $(VENV)/.test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict agent/assist_agent
	$(VENV)/bin/mypy --strict --follow-imports=silent console/api/signatures.py console/iam/policy.py \
		console/iam/simulate.py console/invocations/status.py console/commands/parameters.py \
		console/commands/patterns.py console/audit/redact.py console/audit/collect.py

format: $(VENV)/.test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.test
	$(PY) bench/fanout.py
	$(PY) bench/agent_footprint.py

clean:
	rm -rf $(VENV) var
