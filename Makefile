# The two commands a new user needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed
# Browser tests (marker "browser", Chromium via Playwright) run under CI=true; `make test` skips
# them on a developer machine to stay quick: run them with `make test-browser`.
PYTEST_ARGS ?= $(if $(filter true,$(CI)),,-m "not browser")

.PHONY: run test test-browser setup migrate demo lint bench worker beat sequencer serve clean check-python
.PHONY: mlflow-server mlflow-install

check-python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 not found as '$(PYTHON)'. Install it or run: make PYTHON=/path/to/python3.11 ..."; exit 1; }

$(STAMP): pyproject.toml | check-python
	@echo "==> creating virtual environment in $(VENV) and installing (first run takes a few minutes)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

migrate: setup
	@echo "==> migrating the database ($${DATABASE_URL:-sqlite db.sqlite3})"
	@$(PY) manage.py migrate --noinput

demo: migrate
	@echo "==> loading demo data"
	@$(PY) manage.py seed_demo

run: demo
	@$(PY) manage.py mlflow_demo_link
	@$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo ""
	@echo "==> mlgov is starting on http://$(HOST):$(PORT)/"
	@echo "    admin:     http://$(HOST):$(PORT)/admin/   (logins above)"
	@echo "    API docs:  http://$(HOST):$(PORT)/api/docs/"
	@echo "    health:    http://$(HOST):$(PORT)/healthz"
	@$(PY) manage.py runserver $(HOST):$(PORT) --noreload

test: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check --quiet . || { echo "ruff format would change the files above: run .venv/bin/ruff format ."; exit 1; }
	@$(PY) -m pytest $(PYTEST_ARGS)

test-browser: setup
	@$(PY) -m pytest -m browser

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@echo "==> mypy (governance/ and audit/, every module)"
	@$(VENV)/bin/mypy
	@echo "==> makemigrations --check (models and migrations agree)"
	@$(PY) manage.py makemigrations --check --dry-run

bench: setup
	@$(PY) bench/run_all.py

# Production-style processes (see docs/operations.md).
serve: setup
	@$(PY) manage.py collectstatic --noinput --verbosity 0
	@$(VENV)/bin/gunicorn governance.wsgi:application --bind $(HOST):$(PORT) --workers $${WEB_CONCURRENCY:-3} --access-logfile -

worker: setup
	@test -n "$$CELERY_BROKER_URL" || { echo "CELERY_BROKER_URL is not set: without a broker tasks run in the web process and no worker is needed (e.g. export CELERY_BROKER_URL=redis://127.0.0.1:6379/0)"; exit 1; }
	@$(VENV)/bin/celery -A governance worker --loglevel INFO

beat: setup
	@mkdir -p $${VAR_DIR:-var}
	@$(VENV)/bin/celery -A governance beat --loglevel INFO --schedule $${VAR_DIR:-var}/celerybeat-schedule

sequencer: setup
	@$(PY) manage.py audit_sequencer

# A local MLflow tracking server (SQLite backend, artifacts in var/mlflow) for trying the bridge
# (docs/mlflow.md). Its own venv .venv-mlflow/ is installed on first use. MLFLOW_PORT=5000 by default.
mlflow-server: setup
	@$(PY) -m governance.integrations.mlflow.devserver --port $${MLFLOW_PORT:-5000} --data $${VAR_DIR:-var}/mlflow

mlflow-install: setup
	@$(PY) -m governance.integrations.mlflow.devserver --install-only

clean:
	rm -rf $(VENV) .venv-mlflow var media staticfiles db.sqlite3
