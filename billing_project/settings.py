"""Django settings. Configuration comes only from the environment, through
``billing_project.env``; every value has an embedded default so the service
starts with nothing installed (SQLite under ``var/``, local files)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from billing_project.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# Values that are known to everybody: .env.example's placeholder and the dev key.
_PUBLIC_SECRETS = {
    "change-me-to-a-long-random-string",
    "dev-insecure-secret-key-do-not-use-in-production",
}
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (see .env.example)")
    # Only for local development: signed URLs made with it are worthless elsewhere.
    SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105
elif not DEBUG and SECRET_KEY in _PUBLIC_SECRETS:
    # It signs every download link and session: a published value forges them.
    raise ImproperlyConfigured(
        "SECRET_KEY is the published placeholder; set a long random value "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )

# Keys that encrypt stored secrets (webhook signing keys, HMAC keys, whsec_
# secrets): Fernet keys, the first encrypts, all decrypt. Unset: one key
# derived from SECRET_KEY (invoicing/crypto.py).
SECRET_ENCRYPTION_KEYS = env_list("SECRET_ENCRYPTION_KEYS")
for _key in SECRET_ENCRYPTION_KEYS:
    try:
        from cryptography.fernet import Fernet

        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            "SECRET_ENCRYPTION_KEYS: each must be a Fernet key, as "
            "cryptography.fernet.Fernet.generate_key() makes them"
        ) from None

# The JWT issuer of webhooks, the base of every file_url and the trusted CSRF
# origin: a wrong default would send customers links to 127.0.0.1.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
if not PUBLIC_BASE_URL:
    raise ImproperlyConfigured(
        "PUBLIC_BASE_URL is required when DEBUG is off: the service's public https:// address"
    )
_HTTPS = PUBLIC_BASE_URL.startswith("https://")
PORT = env_int("PORT", 8000)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or [
    urlsplit(PUBLIC_BASE_URL).hostname or "localhost",
    "localhost",
    "127.0.0.1",
]
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]

# HTTPS behind a proxy (README, "Production"): the proxy says the scheme in
# X-Forwarded-Proto; cookies, redirects and HSTS follow a https:// public URL.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _HTTPS)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS)
# Probes and Prometheus reach the processes directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    # Redoc's script served by this service (no CDN): the docs page works offline.
    "drf_spectacular_sidecar",
    "invoicing",
    "invoicing.ops",
]

MIDDLEWARE = [
    # Outermost, so its latency and log line cover every other middleware.
    "invoicing.ops.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's CSS and the docs page's Redoc script under gunicorn (DEBUG off),
    # before the session and auth middleware do any work for them (STATIC_URL below).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "billing_project.urls"
WSGI_APPLICATION = "billing_project.wsgi.application"

TEMPLATES = [
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

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        # Persistent connections: one connection per request costs ~7x in
        # throughput on PostgreSQL (measured on these machines); health checks drop a
        # connection that died while idle instead of failing the request.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The hot paths' hand-written statements (the download lookups, the invoice
    # writes: invoicing/selectors.py, _run_prepared) run prepared, once per
    # connection: PostgreSQL then neither parses nor plans them again, which
    # was most of its share of a download (bench/hotpaths.py: 500 -> 133 us).
    # Django's own queries are bound on the client and never prepared. A
    # transaction-pooling proxy that does not keep prepared statements
    # (PgBouncer before 1.21, or without max_prepared_statements) needs
    # DB_PREPARED_STATEMENTS=0; ?prepare_threshold=N in DATABASE_URL (empty: off)
    # takes precedence.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _threshold = _options.get(
        "prepare_threshold", 5 if env_bool("DB_PREPARED_STATEMENTS", True) else ""
    )
    _options["prepare_threshold"] = int(_threshold) if str(_threshold).strip() else None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite only serves the one-machine demo, where the web process and the
    # worker write at once. WAL lets readers go on while one writes; a write
    # transaction takes its lock when it begins (IMMEDIATE), so two never
    # deadlock upgrading read locks ("database is locked" at once, which no
    # busy timeout helps), and waits its turn up to the timeout instead.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
    # The invoice list's covering index (INCLUDE columns) is PostgreSQL's;
    # SQLite builds it without them, which the demo does not notice.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# WhiteNoise serves the static files from where the installed packages keep
# them (the admin's, drf-spectacular-sidecar's Redoc), indexed once when a
# process starts: no collectstatic step at build or release time to forget or
# to fall out of step with a package upgrade, hence no STATIC_ROOT. Unhashed
# names, so browsers revalidate after WhiteNoise's 60 s max-age (ETag,
# Last-Modified). Under DEBUG it re-reads the folders on each request (its
# autorefresh) so edited files show at once.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = VAR_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["invoicing.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["invoicing.api.auth.HasOrganization"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["invoicing.api.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "invoicing.api.lago.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Per key and per organization (invoicing/api/throttling.py): generous,
    # so that no tenant can take the web tier from the others.
    "DEFAULT_THROTTLE_CLASSES": ["invoicing.api.throttling.ApiRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env_str("API_RATE_LIMIT_PER_KEY", "6000/min") or None,
        "organization": env_str("API_RATE_LIMIT_PER_ORGANIZATION", "12000/min") or None,
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Invoice documents API",
    "DESCRIPTION": (
        "Invoices, customers, taxes and add-ons in Lago's dialect under /api/v1/, "
        "and the same invoices in Lotus's dialect under /api/."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api(/v1)?",
    "REDOC_DIST": "SIDECAR",
}

# A request body larger than this is refused before parsing (invoices with
# 10,000 fees are about 3 MB of JSON).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BYTES", 10 * 1024 * 1024)

# Lago's default page size, and the largest page a client may ask for.
API_PAGE_SIZE = 20
API_MAX_PAGE_SIZE = 100

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# Values the services read at call time (never at import time of a module).
PDF_URL_TTL_SECONDS = env_int("PDF_URL_TTL_SECONDS", 3600)
LOTUS_PDF_WAIT_SECONDS = env_float("LOTUS_PDF_WAIT_SECONDS", 10.0)
# A pdf_url that waits holds a gunicorn sync worker for up to the wait: these
# bound how many wait at once, so that one tenant looping on PDFs not rendered
# yet cannot take every worker from the others. Counted across every web
# process in Redis when REDIS_URL is set, in each process's memory without it
# (or while Redis fails). A request finding no slot answers at once, as a wait
# that ran out does (url null, Retry-After). 0 turns waiting off.
LOTUS_PDF_WAIT_PER_ORGANIZATION = env_int("LOTUS_PDF_WAIT_PER_ORGANIZATION", 2)
# Half the Procfile's gunicorn workers (WEB_CONCURRENCY, which gunicorn also
# reads), so that half of them always serve everything else; 0 with a single
# worker, which must never wait. Set it if the worker count comes from elsewhere.
LOTUS_PDF_WAIT_TOTAL = env_int("LOTUS_PDF_WAIT_TOTAL", env_int("WEB_CONCURRENCY", 2) // 2)
# pdf_url answers at once, without waiting, for a job queued behind more
# renders than the wait allows: (claimable jobs created before it) x this /
# LOTUS_PDF_WAIT_RENDERERS. Pessimistic on purpose (about 6 times the measured
# one-page render with its database work, README "Benchmarks"), so that a
# hopeless wait is not held; too high only answers some waits early.
LOTUS_PDF_WAIT_RENDER_SECONDS = env_float("LOTUS_PDF_WAIT_RENDER_SECONDS", 0.05)
# Renders running at once: the Procfile's pdf worker processes (WORKER_CONCURRENCY,
# scripts/worker.sh) unless set; with several worker hosts, their sum.
LOTUS_PDF_WAIT_RENDERERS = env_int("LOTUS_PDF_WAIT_RENDERERS", env_int("WORKER_CONCURRENCY", 2))
PDF_MAX_ATTEMPTS = env_int("PDF_MAX_ATTEMPTS", 5)
# A render holds its job this long; past it, the worker is presumed dead and
# the sweep hands the job to another. Far above the slowest render measured
# (10,000 fees in about 2 s).
PDF_RENDER_LEASE_SECONDS = env_int("PDF_RENDER_LEASE_SECONDS", 120)
# How often one render process claims at most in a burst, in ms (0: whenever
# woken). At month-end a claim, the batch's load and its finishing transaction
# cost as much as rendering a one-page invoice: a process whose recent claims
# took more than one job each, woken again within this window of its last
# claim, waits out the rest of it, and the invoices committed meanwhile share
# one batch. Invoices requested one after another, and a process idle for
# longer, wait for nothing (workers/tasks.py).
PDF_RENDER_GATHER_MS = env_int("PDF_RENDER_GATHER_MS", 200)
# Locales each worker process renders once at start (fonts and locale data
# loaded before the first job); add ja, zh-CN... where CJK invoices are made.
PDF_WARM_LOCALES = env_list("PDF_WARM_LOCALES") or ["en"]
# A pending job whose broker message is older than this is enqueued again.
PDF_REQUEUE_AFTER_SECONDS = env_int("PDF_REQUEUE_AFTER_SECONDS", 60)
# Lifetime of the presigned object-store URL a download redirects to.
PDF_REDIRECT_TTL_SECONDS = env_int("PDF_REDIRECT_TTL_SECONDS", 60)

# ------------------------------------------------------------------ storage
# Invoices' PDFs and organizations' logos. Local files under var/files by
# default (outside STATIC_ROOT and MEDIA_URL: never served directly, only
# through signed URLs); any S3-compatible store when a bucket is named.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _files_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": PDF_REDIRECT_TTL_SECONDS,
            # Keys carry the content's checksum: same key, same bytes.
            "file_overwrite": True,
            "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,
            "signature_version": "s3v4",
        },
    }
else:
    _files_storage = {
        # FileSystemStorage whose saves are atomic and reach the disk before
        # the job is marked ready (invoicing/storage.py).
        "BACKEND": "invoicing.storage.LocalFiles",
        "OPTIONS": {"location": str(VAR_DIR / "files"), "allow_overwrite": True},
    }
STORAGES = {
    "default": _files_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# ------------------------------------------------------------------- celery
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis re-delivers an unacknowledged message after this long; it must
        # exceed the longest task, or a slow render would be run twice.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900),
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
    }
else:
    # Embedded default: Kombu's filesystem transport, one machine, no broker
    # to install. Messages are files under var/celery; see README for limits.
    # The host means nothing to this transport; naming one keeps Kombu from
    # warning "No hostname was supplied" on every connection.
    CELERY_BROKER_URL = "filesystem://localhost/"
    # Kombu's transport, publishing whole files only (billing_project/broker.py).
    CELERY_BROKER_TRANSPORT = "billing_project.broker:FilesystemTransport"
    _queue_dir = str(VAR_DIR / "celery" / "queue")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _queue_dir,
        "data_folder_out": _queue_dir,
        "control_folder": str(VAR_DIR / "celery" / "control"),
        # The worker looks for new messages this often (Kombu's default is 1 s,
        # for each queue in turn): a PDF asked for starts rendering within a
        # fraction of a second. A listing of a folder of a few files, ten times
        # a second, costs well under 1 % of a core.
        "polling_interval": 0.1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# Tasks are idempotent (they claim their row first), so a task whose worker
# died is safely run again: acknowledge after running, requeue on worker loss.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per process: a long render must not hold others back.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
if not REDIS_URL:
    # The filesystem transport has no asynchronous I/O, so Celery runs its
    # blocking loop, which drains the broker 2 s at a time. With one message per
    # process, a message sent just after the worker's previous task was taken
    # in only when that 2-second cycle came round: every PDF and webhook of make
    # run waited up to 2 s (measured with scripts/first_pdf.py: messages taken
    # in at 2-second steps). With room for 8 per process they are taken in
    # within the 0.1 s poll; the demo's renders are short, so none waits long
    # behind another.
    CELERY_WORKER_PREFETCH_MULTIPLIER = 8
CELERY_TASK_DEFAULT_QUEUE = "pdf"
CELERY_TASK_ROUTES = {
    "invoicing.pdf.*": {"queue": "pdf"},
    "invoicing.webhooks.*": {"queue": "webhooks"},
}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
# Recycle worker processes now and then so a slow leak cannot grow forever.
CELERY_WORKER_MAX_TASKS_PER_CHILD = 2000
# Publishing happens inside web requests: fail fast when the broker is down
# (the row is the truth and the sweep re-enqueues), never block the request.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Task events (received, started, succeeded, sent) are what Flower shows as task history.
# Off unless asked: each is one more broker message, 12 per invoice at month-end (three
# tasks), and publishing them was about half of a Celery main process's work (py-spy,
# bench/monthend.py) when nothing read them. Flower turns them on
# in the workers itself while it runs (its --enable-events, on by default), so its pages
# lose nothing; CELERY_TASK_EVENTS=1 keeps them on for other monitors.
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("CELERY_TASK_EVENTS", False)
CELERY_TASK_SEND_SENT_EVENT = CELERY_WORKER_SEND_TASK_EVENTS
# How often beat runs each sweep. Lowering them shortens recovery after a lost
# message or a dead worker at the price of more sweep queries; the system tests
# lower them to see recovery within seconds.
PDF_SWEEP_INTERVAL_SECONDS = env_float("PDF_SWEEP_INTERVAL_SECONDS", 15.0)
WEBHOOK_SWEEP_INTERVAL_SECONDS = env_float("WEBHOOK_SWEEP_INTERVAL_SECONDS", 5.0)
CELERY_BEAT_SCHEDULE = {
    "pdf-sweep": {"task": "invoicing.pdf.sweep", "schedule": PDF_SWEEP_INTERVAL_SECONDS},
    # Retries are due rows (next_attempt_at), not broker countdowns: this sweep
    # sends them, so a retry leaves at most one interval after it is due.
    "webhooks-sweep": {
        "task": "invoicing.webhooks.sweep",
        "schedule": WEBHOOK_SWEEP_INTERVAL_SECONDS,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# ----------------------------------------------------------------- webhooks
# Read by invoicing/services/webhooks.py at call time; README "Webhooks".

DEBUG_LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


def _webhook_settings():
    from invoicing.webhooks.guard import parse_allowed_networks
    from invoicing.webhooks.schedule import DEFAULT_SCHEDULE_S, parse_schedule

    # Development only (make run's receiver listens on 127.0.0.1): unset and with DEBUG
    # on, loopback is reachable. With DEBUG off the default is empty, so production
    # refuses loopback unless an operator lists it; an empty value keeps the guard
    # whole under DEBUG too. Said once at start (billing_project/startup.py).
    networks = env_list(
        "WEBHOOK_ALLOWED_NETWORKS", ",".join(DEBUG_LOOPBACK_NETWORKS) if DEBUG else ""
    )
    try:
        parse_allowed_networks(networks)
        # Unset: the schedule the retry policy is tested with (webhooks/schedule.py).
        configured = env_str("WEBHOOK_RETRY_SCHEDULE")
        schedule = parse_schedule(configured) if configured else DEFAULT_SCHEDULE_S
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    # A PEM in one environment line usually arrives with literal "\\n" separators.
    jwt_key = env_str("WEBHOOK_JWT_PRIVATE_KEY").replace("\\n", "\n")
    if jwt_key:
        from invoicing.webhooks.signing import public_key_pem

        try:
            public_key_pem(jwt_key.encode())
        except (ValueError, TypeError) as exc:  # not a PEM, not RSA, or encrypted
            raise ImproperlyConfigured(f"WEBHOOK_JWT_PRIVATE_KEY: {exc}") from exc
    return networks, schedule, jwt_key


WEBHOOK_ALLOWED_NETWORKS, WEBHOOK_RETRY_SCHEDULE, WEBHOOK_JWT_PRIVATE_KEY = _webhook_settings()
# Total time one attempt may take (resolve, connect, TLS, send, read the answer).
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 15.0)
# A claimed delivery may stay ``sending`` this long past the attempt's own deadline before
# the sweep presumes its worker dead. Building the body and the two short transactions take
# milliseconds; the margin is for a database under pressure.
WEBHOOK_LEASE_MARGIN_SECONDS = env_float("WEBHOOK_LEASE_MARGIN_SECONDS", 30.0)
# The sweep re-sends the message of a due delivery only when nothing touched the row for
# this long, so a backlog in the queue is not multiplied by a new message every sweep.
WEBHOOK_REQUEUE_AFTER_SECONDS = env_float("WEBHOOK_REQUEUE_AFTER_SECONDS", 60.0)
# An endpoint whose attempts have all failed for this long is disabled (5 days:
# longer than one delivery's whole schedule, so only a receiver that stays down
# across several deliveries' schedules is turned off).
WEBHOOK_DISABLE_AFTER_SECONDS = env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 86400)
# After a Standard Webhooks secret rotation the previous secret keeps signing
# this long, so receivers can switch without dropping a message.
WEBHOOK_SECRET_ROTATION_GRACE_SECONDS = env_int("WEBHOOK_SECRET_ROTATION_GRACE_SECONDS", 86400)
# Delivery throughput and fairness (README "Webhooks", invoicing/webhooks/fairness.py).
# Attempts one webhook worker process runs at once (threads waiting on receivers).
WEBHOOK_PROCESS_MAX_IN_FLIGHT = env_int("WEBHOOK_PROCESS_MAX_IN_FLIGHT", 64)
# The largest window of one endpoint: attempts in flight to it over the whole fleet.
WEBHOOK_ENDPOINT_MAX_IN_FLIGHT = env_int("WEBHOOK_ENDPOINT_MAX_IN_FLIGHT", 16)
# Attempts in flight for one organization over the whole fleet: below a process's
# slots, so that one organization never fills a process, and at least one endpoint's
# largest window, so that one fast endpoint can use all of it.
WEBHOOK_ORGANIZATION_MAX_IN_FLIGHT = env_int("WEBHOOK_ORGANIZATION_MAX_IN_FLIGHT", 24)
# How long one delivery task claims due deliveries before handing over to the next
# one (it then finishes the attempts it has out): the worker gets back to its queue.
WEBHOOK_PUMP_SECONDS = env_float("WEBHOOK_PUMP_SECONDS", 10.0)
# An idle kept-alive connection to a receiver is closed after this long.
WEBHOOK_KEEPALIVE_SECONDS = env_float("WEBHOOK_KEEPALIVE_SECONDS", 30.0)
for _name in (
    "WEBHOOK_PROCESS_MAX_IN_FLIGHT",
    "WEBHOOK_ENDPOINT_MAX_IN_FLIGHT",
    "WEBHOOK_ORGANIZATION_MAX_IN_FLIGHT",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")

# --------------------------------------------------------------- operations
# Read by invoicing/ops/ (health, metrics, logs, Flower) and the admin's
# operations page; README "Operations".

# One JSON object per line for log collectors; plain lines for a terminal.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, got {LOG_FORMAT!r}")
# Both formatters scrub signed download links and API keys from every line.
LOGGING["formatters"] = {
    "json": {"()": "invoicing.ops.logs.JsonFormatter"},
    "plain": {"()": "invoicing.ops.logs.PlainFormatter"},
}
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# One line per request: the request middleware's (invoicing.request). Every
# other logger writes through the root's one handler, whose formatter scrubs.
LOGGING["filters"] = {"no_access_lines": {"()": "invoicing.ops.logs.DropAccessLines"}}
LOGGING["loggers"] = {
    # Django's own DEBUG-time console handler would print its records a second
    # time, unscrubbed (signed links in "Not Found: /files/..."): no handler of
    # its own, its records reach the root's, at the root's level (LOG_LEVEL).
    "django": {"handlers": [], "level": "NOTSET", "propagate": True},
    # Its 4xx warnings repeat the request line; 5xx errors keep their traceback.
    "django.request": {"handlers": [], "level": "ERROR", "propagate": True},
    # runserver's access log (its own handler prints raw paths) repeats the
    # request line too; what it says about requests that never reached Django
    # (malformed HTTP, HTTPS to the plain server) is kept.
    "django.server": {
        "handlers": [],
        "level": "NOTSET",
        "filters": ["no_access_lines"],
        "propagate": True,
    },
}
# Workers keep the handler above (JSON lines) instead of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Bearer token of GET /metrics; unset, the endpoint answers 404 (disabled).
METRICS_TOKEN = env_str("METRICS_TOKEN")
# prometheus-client's multiprocess mode: every web and worker process on the
# host writes its samples here and /metrics sums them. Needed with more than
# one process (gunicorn, Celery prefork); the folder must be emptied when the
# processes are restarted (README "Metrics").
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")
# Each /readyz dependency check gets this long (load balancers time out at 2-5 s).
READYZ_TIMEOUT_SECONDS = env_float("READYZ_TIMEOUT_SECONDS", 1.5)
# How long a /readyz answer is reused (it is unauthenticated and opens a
# connection to each dependency).
READYZ_CACHE_SECONDS = env_float("READYZ_CACHE_SECONDS", 1.0)
# The operations page and /metrics read the broker with this timeout, and wait
# this long for workers to answer a ping: bounded, so the page stays fast.
OPS_BROKER_TIMEOUT_SECONDS = env_float("OPS_BROKER_TIMEOUT_SECONDS", 0.5)
OPS_PING_TIMEOUT_SECONDS = env_float("OPS_PING_TIMEOUT_SECONDS", 0.5)
# user:password for Flower; `python -m invoicing.ops.flower` refuses to start
# without it when DEBUG is off.
FLOWER_BASIC_AUTH = env_str("FLOWER_BASIC_AUTH")
# Flower can revoke tasks and stop workers: local by default.
FLOWER_ADDRESS = env_str("FLOWER_ADDRESS", "127.0.0.1")
# First-page PNG previews of stored PDFs for the admin, by checksum (a cache:
# safe to delete).
ADMIN_PREVIEW_DIR = VAR_DIR / "cache" / "previews"
