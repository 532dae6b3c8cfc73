"""Settings, read from the environment.

Embedded defaults (``make run``, plain ``make test``): an SQLite file in the project folder,
Celery tasks run eagerly, a development signing key in ``var/``. Production sets
``DEBUG=false`` and must then provide ``SECRET_KEY`` (and the audit signing key); a missing
secret is a startup error, never a silent default.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# GENERAL ------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off the service refuses to start without it: "
            "export SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"  # development only
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

INSTALLED_APPS = [
    "governance.workspace.apps.WorkspaceAdminConfig",  # django.contrib.admin, the dashboard as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "audit",
    "governance.common",
    "governance.accounts",
    "governance.registry",
    "governance.evaluations",
    "governance.workflow",
    "governance.reports",
    "governance.api",
    "governance.workspace",
    "governance.integrations.webhooks",
    "governance.oversight",
    "governance.integrations.mlflow",
    "axes",  # admin login throttling and lockout (issue 10, defect 5; settings AXES_* below)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "governance.api.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "governance.accounts.middleware.RequestRoleCacheMiddleware",  # roles read once per admin page
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login with 429
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (CONTENT_SECURITY_POLICY below)
    "governance.api.security.SecurityHeadersMiddleware",  # Permissions-Policy; no-store on the API
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/admin/login/"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASES ----------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/databases/
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: every transaction takes SQLite's write lock before it reads, so the audit head
    # is read under the lock (invariant 4). WAL lets readers run beside the single writer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A file (not :memory:) so threads in concurrency tests share it; one per process.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")

# The audit log is never serialized for test rollbacks: its rows cannot be re-inserted.
TEST_NON_SERIALIZED_APPS = ["audit"]

# AUTH ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
API_TOKEN_DEFAULT_EXPIRY_DAYS = int(os.environ.get("API_TOKEN_DEFAULT_EXPIRY_DAYS", "90"))

# I18N ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# STATIC AND MEDIA ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Requests larger than this are refused with 413 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MAX_JSON_BODY_BYTES", str(5 * 1024 * 1024)))
MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", str(512 * 1024 * 1024)))
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# REST FRAMEWORK -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON too deep or holding NUL characters is a 400, not a 500 (issue 10, defect 9)
    "DEFAULT_PARSER_CLASSES": [
        "governance.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "governance.api.schema.GovernanceAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "governance.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "mlgov: model governance and audit API",
    "DESCRIPTION": "Inventory, evaluations, promotion workflow and verifiable audit log.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# CELERY -------------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
# The queue tasks are sent to and a worker reads by default (a run-specific name lets several
# deployments or load tests share one broker without taking each other's tasks).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
# A task whose worker process dies is put back on the queue (with acks_late), and Redis hands an
# unacknowledged message to another worker after the visibility timeout (kombu's default is an
# hour); it must exceed the longest task (CELERY_TASK_TIME_LIMIT). One message per worker process
# at a time, so a dead worker strands at most the task it was running.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "1200"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # how often a worker looks for messages past the timeout (kombu's default sweep is ~100 s)
    "unacked_restore_interval": max(1, min(60, CELERY_VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 900
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A job (evaluation, documentation pack) with no progress for this long is stuck: the reaper
# re-queues or fails it (governance.evaluations.jobs). Longer than visibility timeout + time limit.
AUDIT_FULL_VERIFY_INTERVAL_DAYS = int(os.environ.get("AUDIT_FULL_VERIFY_INTERVAL_DAYS", "7"))
JOB_STALE_SECONDS = int(os.environ.get("JOB_STALE_SECONDS", "2400"))
# A job whose task could not be sent when it was queued (broker unreachable) is sent again by the
# beat sweep jobs.redispatch_queued (every JOB_REDISPATCH_INTERVAL_SECONDS), at ages grace, 2 x grace,
# 4 x grace, ... (JOB_DISPATCH_GRACE_SECONDS) while it is still queued (governance.common.jobs).
JOB_DISPATCH_GRACE_SECONDS = int(os.environ.get("JOB_DISPATCH_GRACE_SECONDS", "60"))
JOB_REDISPATCH_INTERVAL_SECONDS = int(os.environ.get("JOB_REDISPATCH_INTERVAL_SECONDS", "30"))
CELERY_BEAT_SCHEDULE: dict = {
    # A signed checkpoint at most once a second, within seconds of any change (audit.checkpoints).
    "audit-checkpoint": {"task": "audit.checkpoint_if_due", "schedule": 5.0},
    # Nightly: the entries since the last verified checkpoint (+ consistency proof); a full pass
    # when the last one is older than AUDIT_FULL_VERIFY_INTERVAL_DAYS. A failure alerts the admins.
    "audit-verify-nightly": {"task": "audit.verify_log", "schedule": crontab(hour=2, minute=30)},
    # Evaluations and packs left queued/running/rendering by a dead worker: re-queued once or failed.
    "jobs-reap-stale": {"task": "jobs.reap_stale", "schedule": 300.0},
    # Evaluations and packs still queued because their task could not be sent: sent again.
    "jobs-redispatch-queued": {"task": "jobs.redispatch_queued", "schedule": float(JOB_REDISPATCH_INTERVAL_SECONDS)},
    # Promotion requests older than their policy's window become expired.
    "workflow-expire-requests": {"task": "workflow.requests_expire", "schedule": 3600.0},
    # Open requests whose gates are older than their version's newest evidence are refreshed.
    "workflow-gates-reconcile": {"task": "workflow.gates_reconcile", "schedule": 300.0},
}

# EVALUATIONS --------------------------------------------------------------------------------
# Inputs up to these sizes are computed in the request (201); larger ones are stored to a file
# and computed by a Celery worker (202, status queued -> running -> done | failed).
EVALUATION_SYNC_MAX_ROWS = int(os.environ.get("EVALUATION_SYNC_MAX_ROWS", "1000000"))
EVALUATION_SYNC_MAX_BYTES = int(os.environ.get("EVALUATION_SYNC_MAX_BYTES", str(64 * 1024 * 1024)))
# Caps on any table read (web or worker), checked before reading: Parquet metadata row counts and
# uncompressed sizes; CSV (plain or gzip) decompressed through a byte budget. Larger inputs: 413.
EVALUATION_MAX_ROWS = int(os.environ.get("EVALUATION_MAX_ROWS", "20000000"))
EVALUATION_MAX_DECOMPRESSED_BYTES = int(os.environ.get("EVALUATION_MAX_DECOMPRESSED_BYTES", str(1024 * 1024 * 1024)))
# Fairness and drift tables with more rows (or CSVs too large to measure in the request) are computed
# by the worker out of core with DuckDB (governance.evaluations.outofcore): bounded memory, exact.
EVALUATION_OUT_OF_CORE_MIN_ROWS = int(os.environ.get("EVALUATION_OUT_OF_CORE_MIN_ROWS", "5000000"))
EVALUATION_OUT_OF_CORE_MAX_ROWS = int(os.environ.get("EVALUATION_OUT_OF_CORE_MAX_ROWS", "2000000000"))
EVALUATION_OUT_OF_CORE_MAX_BYTES = int(os.environ.get("EVALUATION_OUT_OF_CORE_MAX_BYTES", str(200 * 1024**3)))
EVALUATION_OUT_OF_CORE_MEMORY = os.environ.get("EVALUATION_OUT_OF_CORE_MEMORY", "1GB")
EVALUATION_OUT_OF_CORE_THREADS = int(os.environ.get("EVALUATION_OUT_OF_CORE_THREADS", str(os.cpu_count() or 2)))
# Inputs referenced by path (``input_uri``: an absolute path or a file:// URI the worker reads in place)
# are allowed only under these directories (os.pathsep-separated; symlinks are resolved first). Empty:
# no input may be referenced by path. The worker takes the SHA-256 of the exact bytes when it starts and
# refuses a file that changed since it was referenced, or while it was read.
EVALUATION_INPUT_ROOTS = [r for r in os.environ.get("EVALUATION_INPUT_ROOTS", "").split(os.pathsep) if r.strip()]
# Fan-out (issue 15.3): with 2 or more chunks, a Parquet fairness or drift input computed out of core with
# at least EVALUATION_FANOUT_MIN_ROWS rows is split by row ranges over the workers (a Celery chord, which
# needs CELERY_RESULT_BACKEND); 0 or 1: one worker computes it.
EVALUATION_FANOUT_CHUNKS = int(os.environ.get("EVALUATION_FANOUT_CHUNKS", "0"))
EVALUATION_FANOUT_MIN_ROWS = int(os.environ.get("EVALUATION_FANOUT_MIN_ROWS", "20000000"))
# Fairness groups with fewer rows get a "small_group" warning row (params.min_group_size overrides).
EVALUATION_MIN_GROUP_SIZE = int(os.environ.get("EVALUATION_MIN_GROUP_SIZE", "30"))
# OpenAPI: evaluation enums get their own names (another "status" enum exists with other values).
SPECTACULAR_SETTINGS.setdefault("ENUM_NAME_OVERRIDES", {}).update(
    {
        "EvaluationStatusEnum": "governance.evaluations.models.EvaluationStatus",
        "EvaluationKindEnum": "governance.evaluations.models.EvaluationKind",
        "EvaluationSourceEnum": "governance.evaluations.models.EvaluationSource",
        "ModelStatusEnum": "governance.registry.models.ModelStatus",
        "PackStatusEnum": "governance.reports.models.PackStatus",
        "RequestStatusEnum": "governance.workflow.models.RequestStatus",
    }
)

# Reported and computed values of one metric on one dataset that differ by more than this (absolute)
# are a discrepancy: shown on the request page, the version page and the dashboard, printed in every
# documentation pack, and refused by a policy with require_agreement. One setting for all of them;
# EVIDENCE_DISCREPANCY_TOLERANCE (the packs' former name) is read as a deprecated alias and warned
# about at startup (check governance.W001).
DEPRECATED_SETTINGS_USED: list[tuple[str, str]] = []  # (old name, its replacement) found in the environment
_tolerance = os.environ.get("EVALUATION_DISCREPANCY_TOLERANCE")
_tolerance_alias = os.environ.get("EVIDENCE_DISCREPANCY_TOLERANCE")
if _tolerance_alias is not None:
    DEPRECATED_SETTINGS_USED.append(("EVIDENCE_DISCREPANCY_TOLERANCE", "EVALUATION_DISCREPANCY_TOLERANCE"))
    if _tolerance is not None and _tolerance.strip() != _tolerance_alias.strip():
        raise ImproperlyConfigured(
            "EVALUATION_DISCREPANCY_TOLERANCE and its deprecated alias EVIDENCE_DISCREPANCY_TOLERANCE are both set, "
            f"to different values ({_tolerance!r} and {_tolerance_alias!r}): keep only EVALUATION_DISCREPANCY_TOLERANCE"
        )
try:
    EVALUATION_DISCREPANCY_TOLERANCE = float(_tolerance if _tolerance is not None else (_tolerance_alias or "0.02"))
except ValueError as exc:
    raise ImproperlyConfigured("EVALUATION_DISCREPANCY_TOLERANCE must be a number such as 0.02") from exc
if not 0 <= EVALUATION_DISCREPANCY_TOLERANCE < float("inf"):
    raise ImproperlyConfigured("EVALUATION_DISCREPANCY_TOLERANCE must be a finite number >= 0, e.g. 0.02")

# API docs: Swagger UI and ReDoc from the drf-spectacular-sidecar package, served by the service
# itself (no page loads anything from another host).
SPECTACULAR_SETTINGS.update(
    {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
)

# E-MAIL -------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "mlgov@localhost")
ADMINS = [("Admins", addr) for addr in env_list("ADMIN_EMAILS", "")]

# AUDIT LOG ----------------------------------------------------------------------------------
# The log origin names this log in every record and checkpoint. The signing key lives outside
# the database: a file (AUDIT_SIGNING_KEY_FILE) or the environment (AUDIT_SIGNING_KEYS).
AUDIT_ORIGIN_HOST = os.environ.get("AUDIT_ORIGIN_HOST", "localhost")
# The full origin of a new log; default "<AUDIT_ORIGIN_HOST>/mlgov-audit/<random uuid>" at migration.
AUDIT_LOG_ORIGIN = os.environ.get("AUDIT_LOG_ORIGIN", "")
AUDIT_SIGNING_KEY_FILE = os.environ.get("AUDIT_SIGNING_KEY_FILE", str(VAR_DIR / "audit-signing.key"))
AUDIT_SIGNING_KEYS = os.environ.get("AUDIT_SIGNING_KEYS", "")
AUDIT_GENERATE_DEV_KEY = DEBUG
# When an audited change gets its place in the log (docs/architecture.md, "Sequencing"):
#   inline   - under the head lock inside the change's own transaction (default; seq known at once)
#   deferred - the event commits with the change as a pending row; a sequencer appends it to the
#              log right after the commit (PostgreSQL only; audited writes scale with writers)
AUDIT_SEQUENCING = os.environ.get("AUDIT_SEQUENCING", "inline")
if AUDIT_SEQUENCING not in ("inline", "deferred"):
    raise ImproperlyConfigured(f"AUDIT_SEQUENCING must be inline or deferred, got {AUDIT_SEQUENCING!r}")
if AUDIT_SEQUENCING == "deferred" and "postgresql" not in DATABASES["default"]["ENGINE"]:
    raise ImproperlyConfigured(
        "AUDIT_SEQUENCING=deferred needs PostgreSQL (set DATABASE_URL); SQLite has one "
        "writer at a time, so use the default AUDIT_SEQUENCING=inline there"
    )

# OUTBOUND WEBHOOKS (governance/integrations/webhooks, docs/webhooks.md) ----------------------
# http:// receivers only in development; production receivers must be https.
WEBHOOKS_ALLOW_HTTP = env_bool("WEBHOOKS_ALLOW_HTTP", DEBUG)
# Hosts (names) or networks (CIDR) that may resolve to private/loopback/link-local addresses.
WEBHOOKS_ALLOWED_PRIVATE_HOSTS = env_list("WEBHOOKS_ALLOWED_PRIVATE_HOSTS", "")
# Fernet key that encrypts subscription secrets at rest (default: derived from SECRET_KEY).
WEBHOOKS_SECRET_KEY = os.environ.get("WEBHOOKS_SECRET_KEY", "")
# Absolute base of the API URLs named in payloads (what receivers call back).
WEBHOOKS_PUBLIC_BASE_URL = os.environ.get("WEBHOOKS_PUBLIC_BASE_URL", "http://localhost:8000")
WEBHOOKS_TIMEOUT = float(os.environ.get("WEBHOOKS_TIMEOUT", "10"))  # seconds per attempt (connect and read)
WEBHOOKS_RETRY_BASE = int(os.environ.get("WEBHOOKS_RETRY_BASE", "30"))  # first retry after this many seconds
WEBHOOKS_RETRY_MAX_DELAY = int(os.environ.get("WEBHOOKS_RETRY_MAX_DELAY", str(4 * 3600)))
WEBHOOKS_RETRY_WINDOW = int(os.environ.get("WEBHOOKS_RETRY_WINDOW", str(24 * 3600)))  # then: disabled
# AUDIT_SEQUENCING=deferred: how long a delivery waits for its decision's audit seq before it goes without.
WEBHOOKS_SEQ_WAIT = int(os.environ.get("WEBHOOKS_SEQ_WAIT", "60"))
# Finished deliveries (succeeded, failed, cancelled) are kept this many days in the delivery log.
WEBHOOKS_DELIVERY_RETENTION_DAYS = int(os.environ.get("WEBHOOKS_DELIVERY_RETENTION_DAYS", "30"))
CELERY_BEAT_SCHEDULE["webhooks-deliver-due"] = {"task": "webhooks.deliver_due", "schedule": 10.0}
CELERY_BEAT_SCHEDULE["webhooks-purge-deliveries"] = {
    "task": "webhooks.purge_deliveries",
    "schedule": crontab(hour=3, minute=15),
}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["WebhookDeliveryStatusEnum"] = (
    "governance.integrations.webhooks.models.DeliveryStatus"
)

# DOCUMENTATION PACKS ------------------------------------------------------------------------
# Regimes governing a model that names none (RegisteredModel.governing_regimes): the packs offered and
# generated by default. Comma-separated outline ids; an unknown id stops start-up.
DEFAULT_GOVERNING_REGIMES = env_list("DEFAULT_GOVERNING_REGIMES", "sr11-7,eu-ai-act")
ORGANISATION_NAME = os.environ.get("ORGANISATION_NAME", "Example Bank plc (demo)")
# Printed on EU AI Act packs; the Annex III dates were reported as postponed (Digital Omnibus): verify.
EU_AI_ACT_APPLICABLE_DATE = os.environ.get(
    "EU_AI_ACT_APPLICABLE_DATE",
    "Annex III high-risk obligations: 2 August 2026 per Regulation (EU) 2024/1689 Art. 113; a postponement to "
    "2 December 2027 (Digital Omnibus) was reported — confirm the date in force",
)

# Reported versus computed evidence in the packs: EVALUATION_DISCREPANCY_TOLERANCE (above).
# One number rule for every pack: measured values to this many significant digits; thresholds as
# written; counts as integers with thousands separators; p-values below 0.0001 as "< 0.0001".
PACK_SIGNIFICANT_DIGITS = int(os.environ.get("PACK_SIGNIFICANT_DIGITS", "4"))
# Base URL printed before the admin links of NOT PROVIDED narratives (e.g. https://mlgov.bank.example).
PACK_ADMIN_BASE_URL = os.environ.get("PACK_ADMIN_BASE_URL", "").rstrip("/")
# Paper size of the packs: A4 or Letter (charts and tables are laid out for it).
PACK_PAGE_SIZE = os.environ.get("PACK_PAGE_SIZE", "A4")
if PACK_PAGE_SIZE not in ("A4", "Letter"):
    raise ImproperlyConfigured(f"PACK_PAGE_SIZE must be A4 or Letter, got {PACK_PAGE_SIZE!r}")
if not 1 <= PACK_SIGNIFICANT_DIGITS <= 15:
    raise ImproperlyConfigured("PACK_SIGNIFICANT_DIGITS must be between 1 and 15")

# Where seed_demo copies the two sample packs linked from the README (generated, not committed).
DEMO_SAMPLES_DIR = Path(os.environ.get("DEMO_SAMPLES_DIR", BASE_DIR / "docs" / "samples"))

# MLFLOW BRIDGE (docs/mlflow.md) --------------------------------------------------------------
# Credentials for MLflow come from MLflow's own variables (MLFLOW_TRACKING_USERNAME / _PASSWORD /
# _TOKEN), never from the database. MLFLOW_TRACKING_URI, when set, makes `make run` link the demo model.
MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "")
MLFLOW_DEMO_MODEL_NAME = os.environ.get("MLFLOW_DEMO_MODEL_NAME", "german-credit-scoring")
# The secret given to MLflow's create_webhook; deliveries signed with anything else are refused.
MLFLOW_WEBHOOK_SECRET = os.environ.get("MLFLOW_WEBHOOK_SECRET", "")
MLFLOW_WEBHOOK_TOLERANCE_SECONDS = int(os.environ.get("MLFLOW_WEBHOOK_TOLERANCE_SECONDS", "300"))
# Artifacts larger than this (in total, per version) are imported without a hash, with the reason, and flagged.
MLFLOW_MAX_ARTIFACT_BYTES = int(os.environ.get("MLFLOW_MAX_ARTIFACT_BYTES", str(2 * 1024**3)))
MLFLOW_REQUEST_TIMEOUT = int(os.environ.get("MLFLOW_REQUEST_TIMEOUT", "10"))
MLFLOW_REQUEST_RETRIES = int(os.environ.get("MLFLOW_REQUEST_RETRIES", "2"))
# Re-hash imported versions' artifacts at each sync, to flag artifacts changed in MLflow after import.
MLFLOW_VERIFY_ARTIFACTS = env_bool("MLFLOW_VERIFY_ARTIFACTS", True)
MLFLOW_SYNC_INTERVAL = float(os.environ.get("MLFLOW_SYNC_INTERVAL", "300"))
MLFLOW_ALIAS_RETRY_BASE_SECONDS = float(os.environ.get("MLFLOW_ALIAS_RETRY_BASE_SECONDS", "30"))
MLFLOW_ALIAS_RETRY_MAX_SECONDS = float(os.environ.get("MLFLOW_ALIAS_RETRY_MAX_SECONDS", "3600"))
CELERY_BEAT_SCHEDULE["mlflow-sync"] = {"task": "mlflow.sync_all", "schedule": MLFLOW_SYNC_INTERVAL}

# SECURITY (production) ----------------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"

# LOGGING: one JSON object per line on stdout ------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "audit.context.RequestContextLogFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_context"],
        },
        "mail_admins": {"class": "django.utils.log.AdminEmailHandler", "level": "ERROR"},
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "mlgov.alerts": {"handlers": ["stdout", "mail_admins"], "level": "WARNING", "propagate": False},
    },
}

# SINGLE SIGN-ON (OpenID Connect, issue 18) -----------------------------------------------------
# docs/operations.md "Single sign-on" explains each setting and the Entra ID / Okta / Keycloak set-up.
# Endpoints and keys come from the issuer's discovery document (/.well-known/openid-configuration).
OIDC_ISSUER = os.environ.get("OIDC_ISSUER", "").rstrip("/")
OIDC_ENABLED = env_bool("OIDC_ENABLED", bool(OIDC_ISSUER))
if OIDC_ENABLED and not OIDC_ISSUER:
    raise ImproperlyConfigured("OIDC_ENABLED is true but OIDC_ISSUER is not set (e.g. https://login.example.com)")
OIDC_PROVIDER_NAME = os.environ.get("OIDC_PROVIDER_NAME", "your organisation's sign-in")
OIDC_RP_CLIENT_ID = os.environ.get("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = os.environ.get("OIDC_RP_CLIENT_SECRET", "")
OIDC_RP_SCOPES = os.environ.get("OIDC_RP_SCOPES", "openid email profile groups")
OIDC_RP_SIGN_ALGOS = env_list("OIDC_RP_SIGN_ALGOS", "RS256,ES256,PS256")
OIDC_GROUPS_CLAIM = os.environ.get("OIDC_GROUPS_CLAIM", "groups")
OIDC_USERNAME_CLAIM = os.environ.get("OIDC_USERNAME_CLAIM", "preferred_username")
# Provider group claim value -> mlgov role(s), JSON, e.g. {"mlgov-risk-officers": "risk_officer"}.
try:
    OIDC_GROUP_ROLE_MAP = json.loads(os.environ.get("OIDC_GROUP_ROLE_MAP") or "{}")
except ValueError as exc:
    raise ImproperlyConfigured(f"OIDC_GROUP_ROLE_MAP must be a JSON object of group -> role(s): {exc}") from exc
OIDC_CLOCK_SKEW_SECONDS = int(os.environ.get("OIDC_CLOCK_SKEW_SECONDS", "60"))
OIDC_TIMEOUT = float(os.environ.get("OIDC_TIMEOUT_SECONDS", "10"))
OIDC_DISCOVERY_CACHE_SECONDS = int(os.environ.get("OIDC_DISCOVERY_CACHE_SECONDS", "3600"))
# A step-up re-authentication must be used to sign within this many seconds of its auth_time.
OIDC_STEP_UP_MAX_AGE_SECONDS = int(os.environ.get("OIDC_STEP_UP_MAX_AGE_SECONDS", "300"))
# Read by mozilla-django-oidc's code that governance/accounts/oidc.py reuses: the ID token's nonce is
# checked; the client authenticates to the token endpoint with HTTP Basic. (PKCE and state are always on.)
OIDC_USE_NONCE = True
OIDC_TOKEN_USE_BASIC_AUTH = True
# Local (password) sign-in: the demo and a break-glass account. LOCAL_LOGIN_USERS, when set, is the
# only usernames allowed to sign in with a password (the break-glass accounts).
LOCAL_LOGIN_ENABLED = env_bool("LOCAL_LOGIN_ENABLED", True)
LOCAL_LOGIN_USERS = env_list("LOCAL_LOGIN_USERS", "")
AUTHENTICATION_BACKENDS = [
    "governance.accounts.oidc.LocalPasswordBackend",
    "governance.accounts.oidc.GovernanceOIDCBackend",
]
# Browser sessions end after this much inactivity, and at the latest this long after sign-in.
SESSION_IDLE_TIMEOUT_SECONDS = int(os.environ.get("SESSION_IDLE_TIMEOUT_SECONDS", "1800"))
SESSION_ABSOLUTE_TIMEOUT_SECONDS = int(os.environ.get("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "43200"))
TEMPLATES[0]["OPTIONS"]["context_processors"].append("governance.accounts.oidc_session.sso_context")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "governance.accounts.oidc_session.SessionLimitsMiddleware",
)

# --- Ongoing model risk management (governance.oversight, issue 17) ---
# Revalidation interval in months per SR 11-7 risk tier (a risk officer may override per model);
# an EU AI Act high-risk model is revalidated at least every OVERSIGHT_EU_HIGH_RISK_MAX_MONTHS.
OVERSIGHT_REVALIDATION_MONTHS = {
    "tier_1": int(os.environ.get("OVERSIGHT_REVALIDATION_MONTHS_TIER_1", "12")),
    "tier_2": int(os.environ.get("OVERSIGHT_REVALIDATION_MONTHS_TIER_2", "24")),
    "tier_3": int(os.environ.get("OVERSIGHT_REVALIDATION_MONTHS_TIER_3", "36")),
}
OVERSIGHT_EU_HIGH_RISK_MAX_MONTHS = int(os.environ.get("OVERSIGHT_EU_HIGH_RISK_MAX_MONTHS", "12"))
# Policy gate: no promotion to production while a high validation finding of the version is unresolved.
OVERSIGHT_BLOCK_PRODUCTION_ON_OPEN_HIGH_FINDINGS = env_bool("OVERSIGHT_BLOCK_PRODUCTION_ON_OPEN_HIGH_FINDINGS", True)
CELERY_BEAT_SCHEDULE["oversight-flag-overdue-revalidations"] = {
    "task": "oversight.flag_overdue_revalidations",
    "schedule": crontab(hour=6, minute=0),
}
# Scheduled monitoring evaluations that did not arrive by due time plus grace are flagged and e-mailed.
CELERY_BEAT_SCHEDULE["oversight-flag-missed-checks"] = {"task": "oversight.flag_missed_checks", "schedule": 3600.0}
# The weekly model risk digest to the risk officers (governance/oversight/digest.py): Mondays at 07:00.
CELERY_BEAT_SCHEDULE["oversight-weekly-digest"] = {
    "task": "oversight.weekly_digest",
    "schedule": crontab(hour=7, minute=0, day_of_week="mon"),
}

# CREDENTIAL THROTTLING (issue 10, defects 4 and 5; docs/operations.md "Throttles and lockouts") -----
# refuses logins from a locked-out account or address, before any backend checks a password
AUTHENTICATION_BACKENDS.insert(0, "governance.accounts.backends.AxesBackend")
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))  # failed admin logins before a lockout
AXES_COOLOFF_TIME = dt.timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # each on its own: per address and per account
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # successful logins are not kept by axes (bounded tables)
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0")) or None  # proxies in front (X-Forwarded-For)
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
# Refused API tokens, failed logins and wrong signing passwords: counted per source and window,
# one audit event per source and window (governance.accounts.throttle).
REFUSAL_WINDOW_SECONDS = int(os.environ.get("REFUSAL_WINDOW_SECONDS", "60"))
REFUSAL_LOCKOUT_SECONDS = int(os.environ.get("REFUSAL_LOCKOUT_SECONDS", "900"))
REFUSAL_LIMITS = {
    "token": int(os.environ.get("REFUSAL_LIMIT_TOKEN", "30")),  # refused tokens per address, then 429
    "login": int(os.environ.get("REFUSAL_LIMIT_LOGIN", "30")),  # (admin logins: AXES_FAILURE_LIMIT applies)
    "signing": int(os.environ.get("REFUSAL_LIMIT_SIGNING", "5")),  # wrong signing passwords per account/address
}
CELERY_BEAT_SCHEDULE["accounts-refusals-record"] = {"task": "accounts.refusals_record", "schedule": 60.0}

# RESPONSE HEADERS (issue 10, defect 11; docs/operations.md "Response headers") ------------------------
# Every byte of every page comes from the service: scripts only from files it serves (no inline
# script, no eval), styles from its files plus inline style attributes (the admin's templates and
# ReDoc set some), images and fonts also as data: URLs, ReDoc's search worker from a blob: URL.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
