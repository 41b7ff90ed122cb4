# hubweb: every command a developer or CI needs. `make run` and `make test` are
# the whole set-up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi
PORT ?= 5000

.PHONY: run test lint format migrate check-vendored system-deps clean screenshots bench load faults \
	messages catalogs

$(VENV)/pyvenv.cfg:
	$(PY) -m venv $(VENV)

$(STAMP): $(VENV)/pyvenv.cfg requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## Catalogs: translations/<lang>/LC_MESSAGES/messages.po, English the source.
## The compiled .mo files are build output (git-ignored), made by `make run` and
## `make test` whenever a .po file is newer.
LANGS := de fr es ru ar
POS := $(foreach l,$(LANGS),translations/$(l)/LC_MESSAGES/messages.po)
MOS := $(POS:.po=.mo)

## messages: extract every marked text into translations/messages.pot and merge it
## into each language's messages.po (new entries empty, changed ones fuzzy).
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k lazy_gettext -k _l -k lazy_ngettext:1,2 \
		--sort-by-file --project=hubweb --copyright-holder=hubweb \
		-o translations/messages.pot .
	@for l in $(LANGS); do \
		if [ -f translations/$$l/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel -q update --no-fuzzy-matching -i translations/messages.pot \
				-d translations -l $$l; \
		else \
			$(BIN)/pybabel -q init -i translations/messages.pot -d translations -l $$l; \
		fi; done

## catalogs: compile the .po files to .mo (only those that changed)
catalogs: $(MOS)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

## run: serve the portal on http://127.0.0.1:5000 (SQLite, console mail and SMS);
## PORT=5001 serves another port, and the links in emails point there too
## (HUBWEB_BASE_URL, unless it is set already).
run: $(STAMP) catalogs
	$(BIN)/flask db upgrade
	HUBWEB_MAIL_BACKEND=console HUBWEB_SMS_BACKEND=console \
		HUBWEB_BASE_URL=$${HUBWEB_BASE_URL:-http://127.0.0.1:$(PORT)} \
		$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

## test: lint, then the whole test suite twice: on SQLite, then on PostgreSQL and
## Redis (127.0.0.1:5432 and :6379, see tests/support/database.py; `.ci/run` starts them).
## Tests marked `postgres` need PostgreSQL whatever the backend, so they run in the
## second pass only; tests marked `sqlite` are about SQLite itself, so they run in the
## first only. Two xdist workers; --dist loadfile keeps each file's module-scoped
## servers on one worker. PYTEST_XDIST= runs in one process.
PYTEST_XDIST ?= -n 2 --dist loadfile
test: $(STAMP) lint check-vendored catalogs
	$(BIN)/python -m pytest -q $(PYTEST_XDIST) -m "not postgres"
	HUBWEB_TEST_BACKEND=postgres $(BIN)/python -m pytest -q $(PYTEST_XDIST) -m "not sqlite"

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format hubweb tests

## migrate: apply migrations to the configured database
migrate: $(STAMP)
	$(BIN)/flask db upgrade

check-vendored:
	@grep -q "$$(sha256sum static/htmx.min.js | cut -d' ' -f1)" static/VENDORED \
		|| (echo "static/htmx.min.js does not match static/VENDORED" && exit 1)

## system-deps: Debian packages the tests use (oathtool, zbar, netpbm, Chromium, npm)
# Each command, and the Debian package that brings it when it is missing
# (npm often comes with a nodejs package already; then nothing is installed).
system-deps:
	@missing=""; \
	for pair in oathtool:oathtool zbarimg:zbar-tools pngtopnm:netpbm \
			chromium:chromium npm:npm; do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

## screenshots: run the browser tests and save a picture of each step, desktop
## (1280x800) and phone (390x844): README's in docs/screenshots, the rest in
## artifacts/screenshots (git-ignored).
screenshots: $(STAMP)
	HUBWEB_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/e2e

## bench: the five performance figures of issue 6 (sign-in overhead, page cost, HTMX
## payload, scale to 1M accounts, worker memory), issue 10's slow bodies (GET
## /sign-in p99 while others send oversized or dripped bodies), the mail timing and
## issue 17's peer comparison (figure 8: the portal beside Flask-Security under the same
## gunicorn settings and wrk, in one run: the password step over one argon2 verify, `/`
## against the peer's signed-in page, the settings page against `/`; the first run
## installs the peer from PyPI into artifacts/bench/peer-venv): a table on stdout and
## bench/results.json, about 10 minutes; `.venv/bin/python -m bench.run 8` runs one.
## BENCH_QUICK=1 for a short run. Needs PostgreSQL and Redis (started when down) and
## wrk (installed when missing).
bench: $(STAMP)
	bash bench/services.sh --wrk
	$(BIN)/python -m bench.run

## load: 200 users for 60 s (locust) against two gunicorn servers on PostgreSQL and
## Redis: sign-in with 2SV, settings, SMS set-up, recovery; checks for 5xx and lost
## writes, reports p50/p99 (bench/load_results.json), about 2 minutes. Overrides:
## LOAD_USERS, LOAD_SECONDS, LOAD_ARGON2=default|cheap, LOAD_THINK=3,8 (seconds).
## Then bench/burst.py (about 3 minutes): a burst of sign-ins mixed with page views,
## with admission control of password checks on and off (A B B A): the password
## step's p50/p99, the 503 share, pages' p99 idle and during the burst, each worker's
## peak memory, goals PASS/FAIL. Overrides: BURST_CONFIGS=on,nice0,nice5,off,
## BURST_ROUNDS, BURST_IDLE, BURST_SECONDS, BURST_USERS, BURST_PAGES. LOAD_BURST=0 skips it,
## LOAD_BURST=only runs it alone.
LOAD_BURST ?= 1
load: $(STAMP)
	bash bench/services.sh
	@status=0; \
	if [ "$(LOAD_BURST)" != "only" ]; then $(BIN)/python -m bench.load || status=1; fi; \
	if [ "$(LOAD_BURST)" != "0" ]; then $(BIN)/python -m bench.burst || status=1; fi; \
	exit $$status

## faults: the fault runs alone (also part of make test): PostgreSQL restarted and
## cut off under traffic, Redis down (fail open and closed), SMS gateway and SMTP
## server down or hanging; then two servers sharing one PostgreSQL and Redis.
faults: $(STAMP)
	bash bench/services.sh
	$(BIN)/python -m pytest -v tests/ops/test_faults.py tests/ops/test_scale_out.py
