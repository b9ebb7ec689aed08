# `make run` and `make test` are the two entry points (README). Both build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= --quiet --disable-pip-version-check

.PHONY: run test lint format bench clean vendor

$(VENV)/.runtime: pyproject.toml agent/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) -e ./agent --config-settings editable_mode=compat
	$(PY) -m compileall -q agent/assist_agent
	$(PY) -m pip install $(PIP_FLAGS) -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PY) -m pip install $(PIP_FLAGS) -e '.[test]'
	touch $@

# Browser libraries from npm (frontend/package-lock.json), copied into static/vendor/ (not committed).
# The same rule copies highlight.js (command editor: bash, powershell, dos) and axe-core (used by
# the accessibility browser test only; no page loads it).
HIGHLIGHT_JS := frontend/node_modules/@highlightjs/cdn-assets
VENDOR_EXTRAS := mkdir -p static/vendor/highlight/languages static/vendor/axe && \
	cp $(HIGHLIGHT_JS)/highlight.min.js static/vendor/highlight/ && \
	cp $(HIGHLIGHT_JS)/LICENSE static/vendor/highlight/LICENSE.highlight && \
	cp $(HIGHLIGHT_JS)/languages/bash.min.js $(HIGHLIGHT_JS)/languages/powershell.min.js \
		$(HIGHLIGHT_JS)/languages/dos.min.js static/vendor/highlight/languages/ && \
	cp frontend/node_modules/axe-core/axe.min.js frontend/node_modules/axe-core/LICENSE static/vendor/axe/
XTERM := static/vendor/xterm/.installed
$(XTERM): frontend/package.json frontend/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd frontend && npm ci --no-audit --no-fund --silent && cd .. && mkdir -p static/vendor/xterm && \
		cp frontend/node_modules/@xterm/xterm/lib/xterm.js frontend/node_modules/@xterm/xterm/css/xterm.css \
			frontend/node_modules/@xterm/addon-fit/lib/addon-fit.js static/vendor/xterm/ && \
		cp frontend/node_modules/@xterm/xterm/LICENSE static/vendor/xterm/LICENSE.xterm && $(VENDOR_EXTRAS) && touch $@; \
	else echo "WARNING: npm not found: xterm.js is not installed, terminal pages will say so (install npm, then make vendor)."; fi

vendor: $(XTERM)

run: $(VENV)/.runtime $(XTERM)
	$(PY) manage.py serve --host 127.0.0.1 --port 8000

test: $(VENV)/.test $(XTERM)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict agent/assist_agent
	$(VENV)/bin/mypy --strict --follow-imports=silent console/api/signatures.py console/iam/policy.py \
		console/iam/simulate.py console/invocations/status.py console/commands/parameters.py \
		console/commands/patterns.py console/audit/redact.py console/audit/collect.py \
		console/tags/rules.py console/fleet/assistant_settings.py console/mfa/totp.py
	$(VENV)/bin/mypy --strict --follow-imports=silent console/commands/common/__init__.py
	$(VENV)/bin/mypy --strict --follow-imports=silent console/invocations/run_options.py

format: $(VENV)/.test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.test
	$(PY) bench/fanout.py
	$(PY) bench/agent_footprint.py
	$(PY) bench/terminal_flood.py

# The scale-out benchmarks of docs/performance.md (need PostgreSQL and Redis; minutes each, the
# 10,000-agent and million-row steps the longest). Ansible is installed for the peer comparison only.
.PHONY: bench-scale
bench-scale: $(VENV)/.test
	$(PY) -m pip install $(PIP_FLAGS) ansible-core
	$(PY) bench/fanout_vs_ansible.py --sizes 10,50,200
	$(PY) bench/agent_throughput.py
	$(PY) bench/agent_throughput.py --agents 200 --batch 1
	$(PY) bench/swarm_fanout.py --sizes 1000,5000,10000
	$(PY) bench/output_throughput.py
	$(PY) bench/output_compression.py
	$(PY) bench/api_latency.py

# The fault-injection soak of docs/reliability.md (private PostgreSQL and Redis; minutes per round).
.PHONY: soak
soak: $(VENV)/.test
	$(PY) bench/soak.py --rounds 3 --invocations 60 --agents 4

clean:
	rm -rf $(VENV) var
