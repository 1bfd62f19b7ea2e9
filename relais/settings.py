"""Relais settings, read from the environment.

Every deploy-specific value comes from an environment variable with a safe
development default, so that `make demo` needs nothing installed and a
production deploy sets everything explicitly (see docs/operations.md).
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent
VAR_DIR = Path(os.environ.get("RELAIS_VAR_DIR", PROJECT_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "oui"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def caches_from_url(url: str) -> dict:
    """CACHE_URL: empty for a per-process memory cache (one process: the demo, tests);
    redis://host:6379/0 (or rediss://) for a cache shared by every web worker, which the
    API rate limit and the login throttling need to count across workers."""
    if not url:
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if url.split("://", 1)[0] not in {"redis", "rediss"}:
        raise ValueError("CACHE_URL : seules les adresses redis:// ou rediss:// sont prises.")
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "relais",
        }
    }


def _dev_secret_key() -> str:
    """A development key generated once into var/, never committed."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or _dev_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "ninja",  # serves Swagger UI from its own static files, never from a CDN
    "django_otp",
    "django_otp.plugins.otp_totp",
    "relais.accounts",
    "relais.audit",
    "relais.territory",
    "relais.directory",
    "relais.agenda",
    "relais.regulation",
    "relais.orientation",
    "relais.notifications",
    "relais.indicators",
    "relais.interop",
    "relais.bench",  # orchestration: generate and the bench commands, imported by no app
    "relais.demo",  # orchestration: the demo builder, demo_data and serve_demo
    "relais.core",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "relais.core.outage.DatabaseOutageMiddleware",  # h3: database down -> 503 + Retry-After
    "relais.audit.context.AuditRequestMiddleware",  # audit rows name the request's actor
    "relais.core.middleware.InputLimitsMiddleware",
    "relais.core.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "relais.core.cache_control.NoStoreForIdentitiesMiddleware",  # no-store when signed in
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "relais.core.middleware.ContentSecurityPolicyMiddleware",
    "relais.core.middleware.SessionIdleTimeoutMiddleware",
    "relais.accounts.middleware.TwoFactorMiddleware",
]

ROOT_URLCONF = "relais.urls"
WSGI_APPLICATION = "relais.wsgi.application"

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
                "relais.accounts.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'relais.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
        # A persistent connection is checked before a request reuses it: after a
        # PostgreSQL restart a stale one is reopened instead of answering 500 (issue 22).
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and the task worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Pooler and read replica (issue 20; docs/operations.md "PgBouncer", "Replica and
# read routing"). Empty REPLICA_DATABASE_URL and DB_POOLER: everything as above.
DB_POOLER = os.environ.get("DB_POOLER", "").strip().lower()
if DB_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DB_POOLER must be empty or 'pgbouncer', not {DB_POOLER!r}")
REPLICA_DATABASE_URL = os.environ.get("REPLICA_DATABASE_URL", "").strip()
if REPLICA_DATABASE_URL:
    DATABASES["replica"] = dj_database_url.parse(
        REPLICA_DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0)
    )
    if DATABASES["replica"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("REPLICA_DATABASE_URL must be a PostgreSQL URL")
    # A replica that does not answer is given up quickly (the primary serves instead).
    DATABASES["replica"]["OPTIONS"] = {
        "connect_timeout": env_int("RELAIS_REPLICA_CONNECT_TIMEOUT", 2)
    }
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["relais.core.db_routing.ReplicaRouter"]
    # Right after the outage middleware: it wraps the session and authentication reads.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("relais.core.outage.DatabaseOutageMiddleware") + 1,
        "relais.core.db_routing.ReadYourWritesMiddleware",
    )
RELAIS_REPLICA_MAX_LAG_SECONDS = float(os.environ.get("RELAIS_REPLICA_MAX_LAG_SECONDS", "5"))
RELAIS_REPLICA_CHECK_SECONDS = float(os.environ.get("RELAIS_REPLICA_CHECK_SECONDS", "3"))
RELAIS_REPLICA_PIN_SECONDS = env_int("RELAIS_REPLICA_PIN_SECONDS", 10)
if DB_POOLER == "pgbouncer":
    for _db in DATABASES.values():
        if _db["ENGINE"] != "django.db.backends.postgresql":
            continue
        # Transaction pooling: consecutive transactions of one Django connection may run
        # on different server connections. So no named server-side cursor (it lives in
        # a transaction's server session: .iterator() would lose it) and no prepared
        # statement (Django's psycopg 3 default, prepare_threshold None, client-side
        # binding; server_side_binding and the psycopg pool are refused here).
        _db["DISABLE_SERVER_SIDE_CURSORS"] = True
        _options = _db.setdefault("OPTIONS", {})
        if _options.get("server_side_binding") or _options.get("pool"):
            raise ImproperlyConfigured("server_side_binding / pool cannot go through PgBouncer")
        _options["prepare_threshold"] = None
        # Persistent client connections to PgBouncer are cheap; check them after a
        # PgBouncer restart instead of failing the first query.
        _db["CONN_HEALTH_CHECKS"] = True

CACHES = caches_from_url(os.environ.get("CACHE_URL", ""))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on a missing root
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and SITE_URL.startswith("https"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Security (docs/security.md). Production is recognised by an https SITE_URL.
_PRODUCTION = not DEBUG and SITE_URL.startswith("https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _PRODUCTION)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
RELAIS_CSP = os.environ.get(
    "RELAIS_CSP",
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)
RELAIS_SESSION_IDLE_MINUTES = env_int("RELAIS_SESSION_IDLE_MINUTES", 30)
# Login throttling (docs/security.md "Login"): counted in the cache, so CACHE_URL (Redis)
# is required in production (deploy check relais.accounts.E001).
RELAIS_LOGIN_MAX_FAILURES = env_int("RELAIS_LOGIN_MAX_FAILURES", 5)  # username + address
RELAIS_LOGIN_LOCK_MINUTES = env_int("RELAIS_LOGIN_LOCK_MINUTES", 15)  # also the window
RELAIS_LOGIN_USER_FAILURES = env_int("RELAIS_LOGIN_USER_FAILURES", 10)  # then delays
RELAIS_LOGIN_IP_FAILURES = env_int("RELAIS_LOGIN_IP_FAILURES", 20)  # then delays
RELAIS_LOGIN_SPRAY_USERNAMES = env_int("RELAIS_LOGIN_SPRAY_USERNAMES", 20)
RELAIS_LOGIN_MAX_DELAY_SECONDS = env_int("RELAIS_LOGIN_MAX_DELAY_SECONDS", 300)
RELAIS_LOGIN_DEVICE_DAYS = env_int("RELAIS_LOGIN_DEVICE_DAYS", 90)  # known-browser cookie
# Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated).
RELAIS_TRUSTED_PROXIES = env_list("RELAIS_TRUSTED_PROXIES", [])
# TOTP through django-otp: exponential delay after each wrong code (2^(n-1) x factor s),
# locked after RELAIS_OTP_LOCK_FAILURES wrong codes until an administrator unlocks it
# (`relais two_factor --unlock`) or RELAIS_OTP_LOCK_MINUTES pass; a correct password
# never resets the count. Enrolment is confirmed by a signed e-mail link.
OTP_TOTP_ISSUER = "Relais"
OTP_TOTP_THROTTLE_FACTOR = env_int("OTP_TOTP_THROTTLE_FACTOR", 1)
RELAIS_OTP_LOCK_FAILURES = env_int("RELAIS_OTP_LOCK_FAILURES", 10)
RELAIS_OTP_LOCK_MINUTES = env_int("RELAIS_OTP_LOCK_MINUTES", 60)
RELAIS_OTP_CONFIRM_MINUTES = env_int("RELAIS_OTP_CONFIRM_MINUTES", 30)
# TOTP second factor: on by default in production, for the roles that see patients or
# administer; effecteurs are expected to sign in with Pro Santé Connect (itself strong).
RELAIS_2FA_REQUIRED = env_bool("RELAIS_2FA_REQUIRED", _PRODUCTION)
RELAIS_2FA_ROLES = env_list(
    "RELAIS_2FA_ROLES", ["arm", "regulateur", "operateur", "coordinateur", "admin", "delegataire"]
)

# Background work: django-tasks with the database backend. A task row is
# written in the caller's transaction, so a message decided by a booking is
# never lost if the worker is down (it is picked up when the worker returns).
TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
# Task system survival (h3, docs/operations.md "Worker supervision"): a task RUNNING
# longer than the lease with no live worker heartbeat is reclaimed; the sweep runs once
# per interval across the workers; /healthz calls a heartbeat older than STALE stale.
RELAIS_TASK_LEASE_SECONDS = env_int("RELAIS_TASK_LEASE_SECONDS", 300)
RELAIS_SWEEP_SECONDS = env_int("RELAIS_SWEEP_SECONDS", 60)
RELAIS_WORKER_STALE_SECONDS = env_int("RELAIS_WORKER_STALE_SECONDS", 60)
RELAIS_OUTAGE_RETRY_AFTER = env_int("RELAIS_OUTAGE_RETRY_AFTER", 5)

# Outgoing messages. Backends: "console", "file", "smtp" (e-mail) and
# "console", "file", "http" (SMS gateway). Nothing real is reachable in dev.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Relais <ne-pas-repondre@relais.local>")
RELAIS_SMS_BACKEND = os.environ.get("SMS_BACKEND", "file")
RELAIS_SMS_FILE_PATH = os.environ.get("SMS_FILE_PATH", str(VAR_DIR / "sms"))
RELAIS_SMS_HTTP_URL = os.environ.get("SMS_HTTP_URL", "")
RELAIS_SMS_HTTP_TOKEN = os.environ.get("SMS_HTTP_TOKEN", "")
RELAIS_SMS_SENDER = os.environ.get("SMS_SENDER", "RELAIS")

# Orientation defaults (overridable per département in the database).
RELAIS_SEARCH_HORIZON_HOURS = env_int("RELAIS_SEARCH_HORIZON_HOURS", 48)
RELAIS_SEARCH_RESULTS = env_int("RELAIS_SEARCH_RESULTS", 15)
RELAIS_HOLD_MINUTES = env_int("RELAIS_HOLD_MINUTES", 3)
# Live holds one operator may keep at once (0: no limit).
RELAIS_MAX_HOLDS_PER_OPERATOR = env_int("RELAIS_MAX_HOLDS_PER_OPERATOR", 3)
RELAIS_RETENTION_MONTHS = env_int("RELAIS_RETENTION_MONTHS", 12)  # patient identities
RELAIS_API_RATE_LIMIT = env_int("RELAIS_API_RATE_LIMIT", 600)  # calls per client per minute
# Bearer tokens (and their client's scope) resolved once per this many seconds per web
# worker: a revoked token or a changed SAS/CPTS limit is seen up to this delay later
# (relais/accounts/api_auth.py; 0: looked up on every call).
RELAIS_API_AUTH_CACHE_SECONDS = env_int("RELAIS_API_AUTH_CACHE_SECONDS", 30)
RELAIS_SURNUMERAIRE_REFUSAL_MINUTES = env_int("RELAIS_SURNUMERAIRE_REFUSAL_MINUTES", 30)
RELAIS_LEVEL2_WIDEN_MINUTES = env_int("RELAIS_LEVEL2_WIDEN_MINUTES", 20)
RELAIS_LEVEL2_DEADLINE_MINUTES = env_int("RELAIS_LEVEL2_DEADLINE_MINUTES", 120)
# Reminders to the patient, in hours before the appointment (cuts no-shows).
RELAIS_REMINDER_HOURS = [int(h) for h in env_list("RELAIS_REMINDER_HOURS", ["24", "3"])]

# Public endpoints (h5, docs/security.md "Public endpoints"): counted in the cache
# (relais/core/ratelimit.py), so CACHE_URL is what makes them hold across web workers.
RELAIS_WEB_FORM_PER_IP_10MIN = env_int("RELAIS_WEB_FORM_PER_IP_10MIN", 5)  # submissions
RELAIS_WEB_FORM_PER_IP_DAY = env_int("RELAIS_WEB_FORM_PER_IP_DAY", 20)
RELAIS_WEB_FORM_PER_CPTS_10MIN = env_int("RELAIS_WEB_FORM_PER_CPTS_10MIN", 60)  # burst
RELAIS_WEB_FORM_POW = env_bool("RELAIS_WEB_FORM_POW", True)  # ALTCHA proof-of-work
RELAIS_WEB_FORM_POW_COST = env_int("RELAIS_WEB_FORM_POW_COST", 5000)  # PBKDF2 iterations
RELAIS_WEB_FORM_POW_MINUTES = env_int("RELAIS_WEB_FORM_POW_MINUTES", 60)  # challenge life
RELAIS_SMS_PER_NUMBER_PER_HOUR = env_int("RELAIS_SMS_PER_NUMBER_PER_HOUR", 3)  # web form
RELAIS_BULK_DIR = Path(os.environ.get("RELAIS_BULK_DIR", VAR_DIR / "bulk"))
RELAIS_BULK_RATE_LIMIT = env_int("RELAIS_BULK_RATE_LIMIT", 30)  # files per address per minute
RELAIS_BULK_MAX_AGE = env_int("RELAIS_BULK_MAX_AGE", 300)  # Cache-Control, seconds

# INT_R03: appointments reported to the national SAS platform (empty URL: not reported).
RELAIS_SAS_FHIR_URL = os.environ.get("RELAIS_SAS_FHIR_URL", "")
RELAIS_SAS_FHIR_TOKEN = os.environ.get("RELAIS_SAS_FHIR_TOKEN", "")
# Mutual TLS towards the platform: our client certificate and key (PEM; IGC-Santé in
# production) and the CA bundle its server certificate must chain to (empty: the
# system's). No certificate set: the reports go with the bearer token only.
RELAIS_SAS_CLIENT_CERT = os.environ.get("RELAIS_SAS_CLIENT_CERT", "")
RELAIS_SAS_CLIENT_KEY = os.environ.get("RELAIS_SAS_CLIENT_KEY", "")
RELAIS_SAS_CA = os.environ.get("RELAIS_SAS_CA", "")
# INT_R02 deep link (relais.interop.regulators): the key the SAS platform signs its
# regulator assertions with (HS256), their maximum age, and the life of the signed slot
# links Relais puts in Slot.comment.
RELAIS_SAS_LINK_KEY = os.environ.get("RELAIS_SAS_LINK_KEY", "")
RELAIS_SAS_ASSERTION_SECONDS = env_int("RELAIS_SAS_ASSERTION_SECONDS", 300)
RELAIS_SAS_LINK_MINUTES = env_int("RELAIS_SAS_LINK_MINUTES", 60)

# Hub Santé (issue 21, relais.interop.hub, docs/hub-sante.md): off by default. When on,
# `relais hub_consumer` receives the LRMs' RS-EDA cases and sends RC-REF / RS-ERROR /
# RS-SAS-RDV over AMQP 0-9-1 + TLS with our client certificate (EXTERNAL login by its CN).
RELAIS_HUB_ENABLED = env_bool("RELAIS_HUB_ENABLED", False)
RELAIS_HUB_CLIENT_ID = os.environ.get("RELAIS_HUB_CLIENT_ID", "")  # e.g. fr.health.sas91.relais
RELAIS_HUB_HOST = os.environ.get("RELAIS_HUB_HOST", "")
RELAIS_HUB_PORT = env_int("RELAIS_HUB_PORT", 5671)
RELAIS_HUB_VHOST = os.environ.get("RELAIS_HUB_VHOST", "15-15_v2.0")  # one per model version
RELAIS_HUB_EXCHANGE = os.environ.get("RELAIS_HUB_EXCHANGE", "hubsante")
RELAIS_HUB_CLIENT_CERT = os.environ.get("RELAIS_HUB_CLIENT_CERT", "")
RELAIS_HUB_CLIENT_KEY = os.environ.get("RELAIS_HUB_CLIENT_KEY", "")
RELAIS_HUB_CA = os.environ.get("RELAIS_HUB_CA", "")
RELAIS_HUB_DISTRIBUTION_STATUS = os.environ.get("RELAIS_HUB_DISTRIBUTION_STATUS", "Actual")
RELAIS_HUB_TTL_SECONDS = env_int("RELAIS_HUB_TTL_SECONDS", 86400)  # dateTimeExpires of ours
RELAIS_HUB_RETRY_SECONDS = env_int("RELAIS_HUB_RETRY_SECONDS", 15)  # backoff base, doubling
RELAIS_HUB_MAX_ATTEMPTS = env_int("RELAIS_HUB_MAX_ATTEMPTS", 8)  # then "failed" (page)

# Input limits (relais/core/middleware.py InputLimitsMiddleware, docs/security.md): a
# body over 1 MiB answers 413 and JSON nested deeper than 32 levels 400, before parsing.
RELAIS_MAX_BODY_BYTES = env_int("RELAIS_MAX_BODY_BYTES", 1024 * 1024)
RELAIS_MAX_JSON_DEPTH = env_int("RELAIS_MAX_JSON_DEPTH", 32)
DATA_UPLOAD_MAX_MEMORY_SIZE = RELAIS_MAX_BODY_BYTES

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No query string in any log line (names, phones, symptoms): relais/core/logging.py.
    "filters": {"no_query_string": {"()": "relais.core.logging.StripQueryStringFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["no_query_string"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # runserver / live server request lines: through the filtered handler, not Django's.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# A 403 is one log line, without the traceback (relais/core/forbidden_log.py).
LOGGING.setdefault("filters", {})["forbidden_one_line"] = {
    "()": "relais.core.forbidden_log.ForbiddenWithoutTraceback"
}
for _handler in LOGGING.get("handlers", {}).values():
    _handler.setdefault("filters", []).append("forbidden_one_line")

# --- Observability (issue 20 item 5; docs/operations.md "Health and metrics") --------
# A request id on every request, response and log line; JSON logs (LOG_FORMAT=plain for
# the old one-line text); Prometheus metrics at /metrics (relais/core/observability.py,
# relais/notifications/metrics.py), scraped from RELAIS_METRICS_ALLOWED_IPS or with the
# bearer RELAIS_METRICS_TOKEN.
MIDDLEWARE.insert(0, "relais.core.observability.MetricsMiddleware")
MIDDLEWARE.insert(0, "relais.core.observability.RequestIdMiddleware")
LOGGING["filters"]["request_id"] = {"()": "relais.core.observability.RequestIdFilter"}
LOGGING["formatters"]["json"] = {"()": "relais.core.observability.JsonFormatter"}
LOGGING["handlers"]["console"]["filters"].insert(0, "request_id")
if os.environ.get("LOG_FORMAT", "json").strip().lower() == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"
RELAIS_METRICS_ALLOWED_IPS = [
    x.strip()
    for x in os.environ.get("RELAIS_METRICS_ALLOWED_IPS", "127.0.0.1").split(",")
    if x.strip()
]
RELAIS_METRICS_TOKEN = os.environ.get("RELAIS_METRICS_TOKEN", "")
# Worker pool (issue 20 item 3): how often each run_worker looks for due periodic jobs,
# and the jobs to leave to nobody (relais.notifications.scheduler names).
RELAIS_SCHEDULER_SECONDS = float(os.environ.get("RELAIS_SCHEDULER_SECONDS", "5"))
RELAIS_PERIODIC_JOBS_OFF = [
    x.strip() for x in os.environ.get("RELAIS_PERIODIC_JOBS_OFF", "").split(",") if x.strip()
]

# FHIR calls per API client per minute (relais/interop/views.py).
RELAIS_FHIR_RATE_LIMIT = env_int("RELAIS_FHIR_RATE_LIMIT", 600)
# Database roles of `relais db_roles` (docs/operations.md "Database roles").
RELAIS_DB_OWNER_ROLE = os.environ.get("RELAIS_DB_OWNER_ROLE", "relais_owner")
RELAIS_DB_APP_ROLE = os.environ.get("RELAIS_DB_APP_ROLE", "relais_app")
RELAIS_DB_APP_PASSWORD = os.environ.get("RELAIS_DB_APP_PASSWORD", "")


# Optional OpenID Connect login (Pro Santé Connect), see relais/accounts/oidc.py.
RELAIS_OIDC = {
    "issuer": os.environ.get("OIDC_ISSUER", ""),
    "client_id": os.environ.get("OIDC_CLIENT_ID", ""),
    "client_secret": os.environ.get("OIDC_CLIENT_SECRET", ""),
    "authorization_endpoint": os.environ.get("OIDC_AUTHORIZATION_ENDPOINT", ""),
    "token_endpoint": os.environ.get("OIDC_TOKEN_ENDPOINT", ""),
    "userinfo_endpoint": os.environ.get("OIDC_USERINFO_ENDPOINT", ""),
    "jwks_uri": os.environ.get("OIDC_JWKS_URI", ""),
    "scopes": os.environ.get("OIDC_SCOPES", "openid scope_all"),
    "rpps_claim": os.environ.get("OIDC_RPPS_CLAIM", "preferred_username"),
    "extra_auth_params": os.environ.get("OIDC_EXTRA_AUTH_PARAMS", "acr_values=eidas1"),
}
