"""Settings, chosen by environment variables only (see README "Configuration").

Without DATABASE_URL the console uses a SQLite file in ASSIST_DATA_DIR; without REDIS_URL the channel
layer is in-memory and Celery tasks run eagerly in the web process (the embedded default).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

from console.database_url import database_from_url, pool_wanted

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ASSIST_DATA_DIR") or BASE_DIR / "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("ASSIST_DEBUG", "") == "1"
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("ASSIST_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]
CSRF_TRUSTED_ORIGINS = [
    origin.strip()
    for origin in os.environ.get("ASSIST_CSRF_TRUSTED_ORIGINS", "").split(",")
    if origin.strip()
]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "axes",
    "console.iam",
    "console.fleet",
    "console.commands",
    "console.invocations",
    "console.gateway",
    "console.api",
    "console.web",
    "console.audit",
    "console.tags",
    "console.mfa",
    "console.files",
    "console.terminals",
    "console.releases",
]

MIDDLEWARE = [
    # A streamed response hands its database connection back before it streams (web/db_connections.py).
    "console.web.db_connections.StreamedResponseConnectionMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "console.web.csp.ContentSecurityPolicyMiddleware",  # no inline scripts (console/web/csp.py)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A user with a confirmed MFA device must type a code before any page (console.mfa).
    "console.mfa.middleware.MfaRequiredMiddleware",
    # Records changes, log-ins and refusals (console.audit); before Axes so it sees lockout answers.
    "console.audit.middleware.AuditMiddleware",
    # Must be last: turns a locked-out log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"
ASGI_APPLICATION = "console.asgi.application"

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

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# A pool of PostgreSQL connections per process unless ASSIST_DATABASE_POOL=0 (console/database_url.py).
DATABASE_POOL = pool_wanted(os.environ.get("ASSIST_DATABASE_POOL", ""))
DATABASE_POOL_SIZE = int(os.environ.get("ASSIST_DATABASE_POOL_SIZE", "20"))
if DATABASE_URL:
    # Persistent connections for the long-lived threads (websocket consumers, the report writer, Celery)
    # where there is no pool; an HTTP request's thread closes its own (or hands it back to the pool) at the
    # end of the request (console/web/db_connections.py).
    DATABASES = {
        "default": database_from_url(DATABASE_URL, pooled=DATABASE_POOL, pool_size=DATABASE_POOL_SIZE)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "assist.sqlite3",
            "OPTIONS": {
                # WAL lets the agent gateway write while pages read; IMMEDIATE avoids lock upgrades that
                # fail with "database is locked" under concurrent writers.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
            # One test database per test process: several test runs may share a checkout at once.
            "TEST": {"NAME": DATA_DIR / f"test-{os.getpid()}.sqlite3"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "iam.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# Passwords set for RAM users (console.iam.services); the root user's bootstrap password is only >= 8.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "console.iam.passwords.MaximumLengthValidator", "OPTIONS": {"max_length": 128}},
    {"NAME": "console.iam.passwords.CharacterClassesValidator", "OPTIONS": {"min_classes": 2}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Log-in protection (django-axes): 5 failures for one user name from one address lock that pair out for
# 15 minutes from the last failure; a success resets the count. Attempts are kept in the database, so
# every console process sees them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "console.iam.login.lockout_response"
AXES_VERBOSE = False
AXES_DISABLE_ACCESS_LOG = True  # successful log-ins are on the audit trail (console.audit)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 5000, "expiry": 60},
        }
    }
    # The Celery broker may be another server, e.g. RabbitMQ (amqp://...); the layer stays on Redis.
    CELERY_BROKER_URL = os.environ.get("ASSIST_BROKER_URL") or REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}
    }
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Redis as broker: a message a worker took but did not acknowledge (dispatch_invocation is acknowledged
# late; a killed worker's prefetched messages) goes back to the queue after this long. Redis' default
# is an hour; the tick redelivers Pending tasks long before, so this only bounds the late duplicate
# work. It must stay above the longest time a message can wait in a worker before it runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("ASSIST_BROKER_VISIBILITY_TIMEOUT", "300"))
}

# Assist's own knobs; defaults match the original product.
ASSIST_REGION = os.environ.get("ASSIST_REGION", "local")
ASSIST_DELIVERY_TIMEOUT = int(os.environ.get("ASSIST_DELIVERY_TIMEOUT", "60"))
ASSIST_HEARTBEAT_INTERVAL = int(os.environ.get("ASSIST_HEARTBEAT_INTERVAL", "60"))
ASSIST_OFFLINE_AFTER = int(os.environ.get("ASSIST_OFFLINE_AFTER", "120"))
ASSIST_TICK_SECONDS = float(os.environ.get("ASSIST_TICK_SECONDS", "2"))
# How often each web process checks that the channel layer still holds its groups (console/layer_groups.py).
ASSIST_GROUP_PROBE_SECONDS = float(os.environ.get("ASSIST_GROUP_PROBE_SECONDS", "2"))
# The shortest rate(...) of a periodic task (the original: 60 s); tests lower it to see runs within seconds.
ASSIST_MIN_RATE_SECONDS = int(os.environ.get("ASSIST_MIN_RATE_SECONDS", "60"))
ASSIST_MAX_CONTENT_B64 = 24 * 1024
ASSIST_MAX_INSTANCES_PER_RUN = int(os.environ.get("ASSIST_MAX_INSTANCES_PER_RUN", "100"))
ASSIST_API_OUTPUT_LIMIT = 24 * 1024
# Bounds on one connection: bytes a browser's output stream may have unread before it is closed (the page
# resumes from its cursors), and the frames per second (and burst) an agent may send before it is cut off.
ASSIST_BROWSER_UNREAD_BYTES = int(os.environ.get("ASSIST_BROWSER_UNREAD_BYTES", str(8 << 20)))
ASSIST_AGENT_FRAMES_PER_SECOND = float(os.environ.get("ASSIST_AGENT_FRAMES_PER_SECOND", "2000"))
ASSIST_AGENT_FRAME_BURST = float(os.environ.get("ASSIST_AGENT_FRAME_BURST", "10000"))
# Output kept per execution; what a script prints beyond it is counted (output_dropped), not stored.
ASSIST_MAX_OUTPUT_BYTES = int(os.environ.get("ASSIST_MAX_OUTPUT_BYTES", str(16 * 1024 * 1024)))
ASSIST_MAX_COMMANDS_PER_REGION = int(os.environ.get("ASSIST_MAX_COMMANDS_PER_REGION", "500"))
ASSIST_SIGNATURE_WINDOW_SECONDS = 15 * 60
# A ClientToken's first answer is replayed to retries for this long (seconds).
ASSIST_CLIENT_TOKEN_TTL = int(os.environ.get("ASSIST_CLIENT_TOKEN_TTL", str(24 * 3600)))
# RPC calls allowed per access key ("limits" notation, ";" between several); "" turns throttling off.
ASSIST_API_RATE_LIMIT = os.environ.get("ASSIST_API_RATE_LIMIT", "100/second;3000/minute")
# Send file (console/files): the largest upload the console accepts; the API keeps the original 32 KB.
ASSIST_MAX_UPLOAD_BYTES = int(os.environ.get("ASSIST_MAX_UPLOAD_BYTES", str(100 * 1024 * 1024)))
# Days a sent file's content stays on the server once all its transfers have ended (small ones are kept).
ASSIST_FILE_RETENTION_DAYS = float(os.environ.get("ASSIST_FILE_RETENTION_DAYS", "7"))
# Days of history kept (the original: 4 weeks): older runs, results, output and file sends are purged
# hourly in small batches by console.invocations.retention.
ASSIST_HISTORY_DAYS = float(os.environ.get("ASSIST_HISTORY_DAYS", "28"))

# Terminal sessions (console.terminals, docs/terminals.md).
ASSIST_TERMINAL_IDLE_TIMEOUT = int(os.environ.get("ASSIST_TERMINAL_IDLE_TIMEOUT", "600"))
ASSIST_TERMINAL_MAX_DURATION = int(os.environ.get("ASSIST_TERMINAL_MAX_DURATION", str(3 * 3600)))
ASSIST_TERMINAL_RECORDING_MAX_BYTES = int(
    os.environ.get("ASSIST_TERMINAL_RECORDING_MAX_BYTES", str(50 * 1024 * 1024))
)
ASSIST_TERMINAL_DEFAULT_USER = os.environ.get("ASSIST_TERMINAL_DEFAULT_USER", "assist-user")
# Where API clients reach the console (e.g. https://assist.example.com): StartTerminalSession's WebSocketUrl
# is absolute with it, a path without it.
ASSIST_PUBLIC_URL = os.environ.get("ASSIST_PUBLIC_URL", "").rstrip("/")
# Agent self-update (console.releases, docs/install.md): the Ed25519 key that signs agent releases (PEM);
# default DATA_DIR/release-signing-key.pem, created on first use.
ASSIST_RELEASE_KEY_FILE = os.environ.get("ASSIST_RELEASE_KEY_FILE", "")

CELERY_BEAT_SCHEDULE = {
    "assist-tick": {"task": "console.invocations.tasks.tick", "schedule": ASSIST_TICK_SECONDS},
    # History retention, hourly (console/invocations/retention.py)
    "assist-purge-history": {"task": "console.invocations.tasks.purge_history", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("ASSIST_LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
