# 物业业户服务管理系统 — make run | make test | make install | make bench
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.install-stamp
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test install translations migration lint bench jobs clean pot extract

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q ".[dev]"
	touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	@$(BIN)/pybabel compile -f -d translations -D messages >/dev/null

run: install
	@mkdir -p instance
	@$(FLASK) init
	@$(FLASK) demo --if-empty
	@echo "打开 http://$(HOST):$(PORT)  (管理员 admin 的密码见上方 flask init 的输出;演示账号密码见 flask demo 的输出)"
	$(FLASK) run --host $(HOST) --port $(PORT) --without-threads

# The whole suite on SQLite; with TEST_DATABASE_URL set, the same suite (browser tests aside) runs on
# PostgreSQL at the same time, on the second core, and its report follows.
test: install
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		log=$$(mktemp); \
		( WUYE_TEST_DB=pg $(BIN)/pytest -q -m "not browser" > $$log 2>&1; echo $$? >> $$log.rc ) & \
		$(BIN)/pytest -q; sqlite=$$?; wait; \
		echo "== PostgreSQL: $$TEST_DATABASE_URL"; cat $$log; pg=$$(cat $$log.rc); rm -f $$log $$log.rc; \
		[ $$sqlite -eq 0 ] && [ $$pg -eq 0 ]; \
	else \
		$(BIN)/pytest -q; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check app models views jobs tests bench

# Regenerate the initial migration from the models (before the first release only).
migration: $(STAMP)
	@tmp=$$(mktemp -d) && rm -f migrations/versions/0001_initial.py && \
	DATABASE_URL=sqlite:///$$tmp/m.db $(FLASK) db migrate -m initial --rev-id 0001_initial >/dev/null 2>&1 && \
	mv migrations/versions/0001_initial_initial.py migrations/versions/0001_initial.py && rm -rf $$tmp && \
	echo "migrations/versions/0001_initial.py regenerated"

# The source strings into $(POT) (translations/messages.pot; tests write elsewhere to compare).
POT ?= translations/messages.pot
pot: $(STAMP)
	@$(BIN)/pybabel -q extract -F babel.cfg -k _ -k _l -k gettext -k lazy_gettext -k ngettext:1,2 -k Col \
		-k lazy_ngettext:1,2 --add-comments=TRANSLATORS: --project=wuye --version=0.1 \
		--sort-output --add-location=file --no-wrap -o $(POT) .

# Chinese source strings of app/, models/, views/, jobs/ and app/templates/ (see babel.cfg) into
# translations/messages.pot, then both catalogues updated without fuzzy guesses. FAB's English strings
# that we translate or reword stay because app/fab_strings.py marks them.
extract: pot
	$(BIN)/pybabel update -i translations/messages.pot -d translations -D messages \
		--no-fuzzy-matching --ignore-obsolete --no-wrap

jobs: install
	$(FLASK) jobs run

# Performance figures (bench/RESULTS.md): BENCH_ORDERS (default 1000000) and BENCH_SMALL (10000) orders,
# generated once and reused; DATABASE_URL=postgresql://… runs them on PostgreSQL. Not part of `make test`.
bench: install
	@command -v wrk >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
	nice $(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance/wuye.db
