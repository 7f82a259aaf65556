# Two commands for a newcomer: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT
HOST ?= 127.0.0.1
export HOST
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run run-tls test lint bench openapi clean

# The field app's npm libraries (idb, Leaflet, Chart.js), served as files: no bundler.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

pwa/vendor/idb.js: node_modules/.installed
	mkdir -p pwa/vendor
	cp node_modules/idb/build/index.js $@

# Leaflet (the map): its UMD build, stylesheet and marker images, loaded by the map screens.
LEAFLET_IMAGES := layers.png layers-2x.png marker-icon.png marker-icon-2x.png marker-shadow.png
LEAFLET := pwa/vendor/leaflet/leaflet.js pwa/vendor/leaflet/leaflet.css \
	$(addprefix pwa/vendor/leaflet/images/,$(LEAFLET_IMAGES))

pwa/vendor/leaflet/%: node_modules/.installed
	mkdir -p $(dir $@)
	cp node_modules/leaflet/dist/$* $@

# Chart.js (the rates page's charts): its UMD build as one file, loaded by that page only.
CHARTJS := pwa/vendor/chart.umd.js

$(CHARTJS): node_modules/.installed
	mkdir -p $(dir $@)
	cp node_modules/chart.js/dist/chart.umd.js $@

# Browser tests drive Debian's Chromium (test tools' own browser downloads fail here).
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver

# The tests render a paper form's PDF page to PNG (poppler's pdftoppm) and look at it.
/usr/bin/pdftoppm:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq poppler-utils

# Runtime install; re-runs when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

# The address QR codes in closure files point to: the one the banner prints (never the
# address a request came to; a phone on the LAN uses run-tls, which sets its own).
run: export PUBLIC_BASE_URL ?= http://localhost:$(PORT)
run: $(VENV)/.installed pwa/vendor/idb.js $(LEAFLET) $(CHARTJS)
	$(BIN)/fieldcase migrate
	$(BIN)/fieldcase demo --if-empty
	$(BIN)/fieldcase banner --port $(PORT)
	exec $(BIN)/gunicorn --config gunicorn.conf.py 'server:create_app()'

# The demo over HTTPS for a phone on the local network: Caddy in front (its own local CA),
# gunicorn on loopback behind it. Phones need HTTPS to install the app, keep its service
# worker and get a location fix.
TLS_PORT ?= 8443
LAN_HOST ?= $(shell hostname -I 2>/dev/null | awk '{print $$1}')
CADDY_ROOT := $(HOME)/.local/share/caddy/pki/authorities/local/root.crt

/usr/bin/caddy:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq caddy

run-tls: export PUBLIC_BASE_URL ?= https://$(LAN_HOST):$(TLS_PORT)
run-tls: $(VENV)/.installed pwa/vendor/idb.js $(LEAFLET) $(CHARTJS) /usr/bin/caddy
	$(BIN)/fieldcase migrate
	$(BIN)/fieldcase demo --if-empty
	$(BIN)/fieldcase banner --port $(PORT)
	@echo "  HTTPS for a phone on this network: https://$(LAN_HOST):$(TLS_PORT)/"
	@echo "  First make the phone trust this computer's Caddy root certificate,"
	@echo "  $(CADDY_ROOT) (made on first start): copy it to the phone;"
	@echo "  Android: Settings > Security > Encryption & credentials > Install a certificate > CA;"
	@echo "  iPhone: open it to install the profile, then Settings > General > About >"
	@echo "  Certificate Trust Settings > turn it on. Ctrl-C stops both."
	HOST=127.0.0.1 TRUSTED_PROXY_HOPS=1 COOKIE_SECURE=1 FIELDCASE_LAN_HOST=$(LAN_HOST) \
	FIELDCASE_TLS_PORT=$(TLS_PORT) bash -c 'trap "kill 0" EXIT; \
	  $(BIN)/gunicorn --config gunicorn.conf.py "server:create_app()" & \
	  caddy run --config deploy/Caddyfile.local --adapter caddyfile'

# pytest in PYTEST_WORKERS processes (pytest-xdist; 0 runs it in this one). Each worker
# has its own stacks: SQLite file, PostgreSQL database, SeaweedFS, browser and servers.
# Tests go out in collection order a few at a time, so the slow browser tests (collected
# first) are shared out between the workers rather than all given to the first. Three on
# two cores: a third of the suite's time is spent waiting (servers starting, stores
# killed and restarted, browsers), which the third process fills (10 min 11 s against
# 11 min 26 s for the same tests with two, on the CI machine).
PYTEST_WORKERS ?= 3
PYTEST_XDIST := -n $(PYTEST_WORKERS) --maxschedchunk 4

# The benchmarks' quick pass (small sizes, three at a time, about a minute) only shows that
# each still runs to the end: it fails on a crashed bench, never on a missed target.
test: $(VENV)/.installed-test $(VENV)/.installed-bench pwa/vendor/idb.js $(LEAFLET) $(CHARTJS) \
		/usr/bin/chromium /usr/bin/caddy /usr/bin/pdftoppm
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	node --test pwa/tests/
	$(BIN)/python bench/run_all.py --quick
	$(BIN)/python -m pytest $(PYTEST_XDIST)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Every benchmark, one after another, each in a process of its own; a summary at the end
# (PASS / FAIL / ERROR against each target). Exits non-zero only if a bench crashed.
bench: $(VENV)/.installed-bench $(VENV)/.installed-test pwa/vendor/idb.js $(LEAFLET) $(CHARTJS) /usr/bin/chromium
	$(BIN)/python bench/run_all.py

openapi: $(VENV)/.installed
	$(BIN)/fieldcase openapi --output docs/openapi.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache node_modules pwa/vendor
