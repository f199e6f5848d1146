"""Settings, read from the environment only.

Every variable is listed in .env.example and README.md. Parsing is strict: a value that cannot be read
raises ImproperlyConfigured at start instead of silently meaning something else ("ture" is not False).
Development defaults run out of the box: SQLite and a filesystem Celery broker under DATA_DIR, no server
needed. With DATABASE_URL and REDIS_URL set, the same code runs on PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of: true, false, 1, 0, yes, no, on, off"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file that NAME_FILE names (Docker and Kubernetes secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from None
    return os.environ.get(name, default).strip()


DEBUG = env_bool("DEBUG", False)

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_secret("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
if not DEBUG and (SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "SECRET_KEY is the development key or shorter than 32 characters, and DEBUG is off. "
        "Set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, for example the output of "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
    )

# Where the embedded defaults keep their files: the SQLite database, the filesystem broker, snapshots.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / ".data"))).resolve()

# The public side: pages live at <slug>.<STATUSPAGE_BASE_DOMAIN>, a custom domain, or /pages/<slug>/.
STATUSPAGE_BASE_DOMAIN = env_str("STATUSPAGE_BASE_DOMAIN", "localhost").lower().lstrip(".")
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"SITE_URL={SITE_URL!r} must start with http:// or https://")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", ".localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "anymail",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "statuspage",
    "components",
    "incidents",
    "subscribers",
]

MIDDLEWARE = [
    "statuspage.observability.RequestMiddleware",  # request id, timing, metrics: first, so it sees all
    "django.middleware.security.SecurityMiddleware",
    "statuspage.security_headers.SecurityHeadersMiddleware",  # the CSP, from one place
    "statuspage.limits.RequestSizeLimitMiddleware",  # 413 for an oversized body, before anything reads it
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "statuspage.outage.OutageMiddleware",  # database or Redis down: a clear 503, never a 500
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "statuspage.urls"
WSGI_APPLICATION = "statuspage.wsgi.application"

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

DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
else:
    # SQLite cannot create its folder: make it, so a fresh DATA_DIR works from the first command.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "statuspage.sqlite3",
            # WAL lets the web server read while the worker writes; the timeout rides out short write locks.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": DATA_DIR / "test.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_secret("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, failing open when Redis is down (statuspage.outage): rate limits pause,
            # the console and the API keep working on PostgreSQL.
            "BACKEND": "statuspage.outage.TolerantRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "statuspage",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": DATA_DIR / "cache",
        }
    }

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport (no server needed).
# CELERY_BROKER_URL overrides both (the test suite uses memory:// so it never fills a real queue).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": 3600}
    if CELERY_BROKER_URL != "filesystem://"
    else {
        "data_folder_in": str(DATA_DIR / "broker" / "queue"),
        "data_folder_out": str(DATA_DIR / "broker" / "queue"),
        "control_folder": str(DATA_DIR / "broker" / "control"),
        "store_processed": False,
    }
)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# Argon2id first; a password stored with an older hasher (PBKDF2) is rehashed with Argon2 at its next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# Console sign-in throttling (statuspage.auth.throttle): this many failed passwords or codes for one username,
# or from one client address, lock it out for LOGIN_LOCKOUT_MINUTES. A successful sign-in clears the
# username's count. The per-address limit is higher, as an office or a NAT shares one address.
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# Two-factor (TOTP through django-otp): the name authenticator apps show beside the account.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Open Status")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies when collected; names stay unhashed so a snapshot rendered by the worker and a
    # test run without collectstatic refer to the same URLs.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Tests and `make run` work without collectstatic: WhiteNoise finds files in the app folders.
WHITENOISE_USE_FINDERS = True

# Email: SMTP from the environment; the console backend by default so `make run` needs no mail server.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
# Any provider through django-anymail: EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend, and its settings as
# ANYMAIL_<NAME> variables (ANYMAIL_POSTMARK_SERVER_TOKEN=..., or ANYMAIL_POSTMARK_SERVER_TOKEN_FILE=path).
ANYMAIL = {
    name.removeprefix("ANYMAIL_").removesuffix("_FILE"): env_secret(name.removesuffix("_FILE"))
    for name in sorted(os.environ)
    if name.startswith("ANYMAIL_") and name != "ANYMAIL_"
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Status <status@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# TLS: secure cookies and HSTS when the installation is served over HTTPS.
SECURE_TLS = SITE_URL.startswith("https://")
SESSION_COOKIE_SECURE = SECURE_TLS
CSRF_COOKIE_SECURE = SECURE_TLS
SECURE_HSTS_SECONDS = 31536000 if SECURE_TLS else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12, minimum=300)
# No script reads the CSRF cookie: forms carry the token and htmx sends it from the page's hx-headers.
CSRF_COOKIE_HTTPONLY = True

# Defaults for new pages.
DEFAULT_PAGE_TIME_ZONE = env_str("DEFAULT_PAGE_TIME_ZONE", "Etc/UTC")
try:
    ZoneInfo(DEFAULT_PAGE_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"DEFAULT_PAGE_TIME_ZONE={DEFAULT_PAGE_TIME_ZONE!r} is not an IANA time zone"
    ) from None

# Let anyone create an account and a page from /console/signup/ (a hosted service); off by default.
ALLOW_SIGNUP = env_bool("ALLOW_SIGNUP", False)

# Notifications. Webhook targets on loopback are refused unless allowed (tests and local use only); private,
# link-local and metadata addresses are always refused.
WEBHOOK_ALLOW_LOOPBACK = env_bool("WEBHOOK_ALLOW_LOOPBACK", False)
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 10, minimum=1)
# Dead deliveries in a row after which a webhook is quarantined (and its owner emailed).
WEBHOOK_QUARANTINE_AFTER = env_int("WEBHOOK_QUARANTINE_AFTER", 3, minimum=1)
# Seconds a claimed delivery may go without an outcome before the sweeper takes it back (its worker died).
DELIVERY_STALLED_AFTER = env_int("DELIVERY_STALLED_AFTER", 120, minimum=1)
# Public sign-ups allowed per client IP and per address, each per hour.
SUBSCRIBE_LIMIT_PER_IP = env_int("SUBSCRIBE_LIMIT_PER_IP", 10, minimum=1)
SUBSCRIBE_LIMIT_PER_ADDRESS = env_int("SUBSCRIBE_LIMIT_PER_ADDRESS", 3, minimum=1)
# Console sign-ups (ALLOW_SIGNUP) per client address and per email address, each per hour.
SIGNUP_LIMIT_PER_IP = env_int("SIGNUP_LIMIT_PER_IP", 5, minimum=1)
SIGNUP_LIMIT_PER_ADDRESS = env_int("SIGNUP_LIMIT_PER_ADDRESS", 3, minimum=1)

# Request bodies. Anything announcing more than MAX_REQUEST_BYTES is answered 413 unread (statuspage.limits;
# it bounds file uploads, which Django does not); form and JSON data past DATA_UPLOAD_MAX_MEMORY_SIZE, or with
# more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields, is a 400. The largest legitimate body is a subscriber CSV
# import (10 MB).
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 12 * 1024 * 1024, minimum=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=65536)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000, minimum=100)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 10, minimum=1)

# How often the public page's live parts refresh themselves (seconds; htmx polling).
PUBLIC_REFRESH_SECONDS = env_int("PUBLIC_REFRESH_SECONDS", 45, minimum=30)
# Where published snapshots are kept on disk: the last resort when the cache and the database are gone.
SNAPSHOT_DIR = Path(env_str("SNAPSHOT_DIR", str(DATA_DIR / "snapshots")))
# Serve published public documents from the snapshot before Django's stack (statuspage/fastpath.py).
FAST_PATH_ENABLED = env_bool("FAST_PATH_ENABLED", True)
# Seconds a front cache may keep a public snapshot document the fast path served (X-Accel-Expires, read by
# the nginx of docker-compose.yml, deploy/nginx/openstatus.conf.template); 0 sends no such header.
FRONT_CACHE_SECONDS = env_int("FRONT_CACHE_SECONDS", 0, minimum=0)

# The management API: requests per key (DRF rate syntax, e.g. 600/min or 20/s). Statuspage allows 1/s.
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "600/min")
if not __import__("re").fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", API_RATE_LIMIT):
    raise ImproperlyConfigured(f"API_RATE_LIMIT={API_RATE_LIMIT!r}: write N/s, N/min, N/hour or N/day")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["statuspage.api.authentication.APIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "statuspage.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI 3 schema of the management API (/api/schema/), and its docs UI from local assets (/api/docs/).
SPECTACULAR_SETTINGS = {
    "TITLE": "Status page management API",
    "DESCRIPTION": (
        "Statuspage's management API (`/api/v1/pages/{page_id}/...`, `Authorization: OAuth <key>`), "
        "with our additions under `/ext/`. See docs/api.md."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["statuspage.api.schema.drop_json_suffix"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ComponentStatusEnum": "statuspage.api.schema.COMPONENT_STATUSES",
        "ImpactEnum": "statuspage.api.schema.IMPACTS",
        "IncidentStatusEnum": "statuspage.api.schema.INCIDENT_STATUSES",
    },
}

LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/console/login/"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24 * 3

# Logs: one JSON object per line (LOG_FORMAT=json, the default) with request_id, task_id and task_name when
# set, or plain text (LOG_FORMAT=text, what `make run` uses). docs/operations.md lists the fields.
LOG_FORMAT = env_str("LOG_FORMAT", "json").lower()
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: write json or text")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "statuspage.logging.ContextFilter"}},
    "formatters": {
        "json": {"()": "statuspage.logging.JSONFormatter"},
        "text": {"()": "statuspage.logging.TextFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's loggers through the same handler (not also through its default ones).
    "loggers": {"django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}},
}

# Metrics (/metrics, Prometheus). Web and worker run as several processes, so counters and histograms are
# kept in prometheus-client's multiprocess files under this folder, shared by every process of one host
# and wiped when the installation starts (`manage.py launch`, or docker-compose's migrate step).
PROMETHEUS_MULTIPROC_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR / "metrics")))
# A bearer token /metrics requires (Authorization: Bearer <token>); empty: /metrics is open.
METRICS_TOKEN = env_secret("METRICS_TOKEN")
# Seconds /readyz waits for each of the database, the cache and the broker before calling it down.
READYZ_TIMEOUT = env_int("READYZ_TIMEOUT", 2, minimum=1)
