"""Settings shared by every environment. Everything a deployment changes comes from the environment."""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("RELEASEDECK_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_htmx",
    "template_partials",
    # Ours, lowest layer first: each imports only the ones above it in this list
    # (tests/core/test_layers.py), and their ready() hooks connect in this order.
    "apps.core",
    "apps.audit",
    "apps.accounts",
    "apps.environments",
    "apps.releases",
    "apps.stakeholders",
    "apps.notifications",
    "apps.signoffs",
    "apps.rollouts",
    "apps.github",
    "apps.incidents",
    "apps.dashboard",
    "apps.pages",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.accounts.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "apps.accounts.context_processors.viewer",
            ],
        },
    }
]


def database_from_env(default_url: str, variable: str = "DATABASE_URL") -> dj_database_url.DBConfig:
    url = os.environ.get(variable, default_url)
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web, worker and beat share one file in the demo: wait for locks instead of failing,
        # and take the write lock at BEGIN so two writers never deadlock on lock upgrade.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {"default": database_from_env(f"sqlite:///{VAR_DIR / 'releasedeck.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# Celery: JSON only; a task is acknowledged after it ran so a killed worker's task is redelivered;
# one message at a time per process so a long step never holds others hostage.
REDIS_URL = os.environ.get("REDIS_URL", "")
BROKER_DIR = VAR_DIR / "broker"
# The host part means nothing to the filesystem transport; naming one keeps kombu from warning.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost//")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
CELERY_BROKER_TRANSPORT: str | None = None
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's file-system transport with messages written whole before a reader can see them:
    # kombu's own lets a worker read a message file before it is written (kombu issue #1551).
    CELERY_BROKER_TRANSPORT = "apps.core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        # Broadcasts (worker remote control); kombu's default is ./control in the working dir.
        "control_folder": str(BROKER_DIR / "control"),
        # The worker sleeps this long whenever it holds its one-message prefetch; kombu's 1 s
        # default caps it near two tasks a second. A poll is a cheap directory listing.
        "polling_interval": 0.1,
    }
    # Any process may publish (web, worker, beat, manage.py), and kombu neither creates these
    # folders nor works without them.
    for _folder in ("out", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Redelivery of unacknowledged messages after a worker dies.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
    if CELERY_BROKER_URL.startswith("redis://"):
        # kombu's Redis transport, kept from killing the worker when Redis restarts.
        CELERY_BROKER_TRANSPORT = "config.celery:RedisTransport"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# However long the broker is down, a worker waits for it rather than exiting.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
RELEASEDECK_TICK_SECONDS = float(os.environ.get("RELEASEDECK_TICK_SECONDS", "5"))
# Audit checkpoints: signed with this key, or with one derived from SECRET_KEY when it is empty
# (a key the database does not hold); one is written this often and at every export.
RELEASEDECK_AUDIT_KEY = os.environ.get("RELEASEDECK_AUDIT_KEY", "")
RELEASEDECK_AUDIT_CHECKPOINT_SECONDS = float(
    os.environ.get("RELEASEDECK_AUDIT_CHECKPOINT_SECONDS", "300")
)
CELERY_BEAT_SCHEDULE = {
    "audit-checkpoint": {
        "task": "apps.audit.tasks.checkpoint",
        "schedule": timedelta(seconds=RELEASEDECK_AUDIT_CHECKPOINT_SECONDS),
        "options": {"expires": RELEASEDECK_AUDIT_CHECKPOINT_SECONDS},
    },
    "releases-tick": {
        "task": "apps.releases.tasks.tick",
        "schedule": timedelta(seconds=RELEASEDECK_TICK_SECONDS),
        "options": {"expires": RELEASEDECK_TICK_SECONDS * 2},
    },
    "rollouts-tick": {
        "task": "apps.rollouts.tasks.tick",
        "schedule": timedelta(seconds=RELEASEDECK_TICK_SECONDS),
        "options": {"expires": RELEASEDECK_TICK_SECONDS * 2},
    },
    "github-tick": {
        "task": "apps.github.tasks.tick",
        "schedule": timedelta(seconds=RELEASEDECK_TICK_SECONDS),
        "options": {"expires": RELEASEDECK_TICK_SECONDS * 2},
    },
    "notifications-tick": {
        "task": "apps.notifications.tasks.tick",
        "schedule": timedelta(seconds=RELEASEDECK_TICK_SECONDS * 6),
        "options": {"expires": RELEASEDECK_TICK_SECONDS * 6},
    },
}

# A requested phase move whose message has not been picked up after this long is re-enqueued.
RELEASEDECK_MOVE_RETRY_AFTER = timedelta(seconds=30)

# Rollout engine.
# A waiting wave (stop the line, its own sign-off) looks again this often.
RELEASEDECK_RECHECK = timedelta(seconds=float(os.environ.get("RELEASEDECK_RECHECK_SECONDS", "10")))
# The webhook deployer fails a wave whose deploy tool has not reported within this time
# (fixed when the call is made: a wave already deploying keeps the timeout it started with).
RELEASEDECK_DEPLOY_TIMEOUT = timedelta(
    minutes=float(os.environ.get("RELEASEDECK_DEPLOY_TIMEOUT_MINUTES", "30"))
)
# How many times a deploy call is tried before it counts as failed (backoff 2, 4, 8 … s).
RELEASEDECK_DEPLOY_ATTEMPTS = int(os.environ.get("RELEASEDECK_DEPLOY_ATTEMPTS", "6"))
# The tick enqueues a due wave step at most once per lease; a lost message is re-sent after it.
RELEASEDECK_STEP_LEASE = timedelta(
    seconds=float(os.environ.get("RELEASEDECK_STEP_LEASE_SECONDS", "15"))
)
# Seconds an outgoing deploy call or check waits for an answer.
RELEASEDECK_HTTP_TIMEOUT = float(os.environ.get("RELEASEDECK_HTTP_TIMEOUT", "5"))
# Checks, deploy calls and webhooks never reach loopback, link-local (the metadata address),
# private or other non-public addresses, except the host names and networks listed here.
RELEASEDECK_EGRESS_ALLOW = env_list("RELEASEDECK_EGRESS_ALLOW")
# How long the simulated deployer pretends to deploy (demo realism; zero in tests).
RELEASEDECK_SIMULATED_DEPLOY = timedelta(
    seconds=float(os.environ.get("RELEASEDECK_SIMULATED_DEPLOY_SECONDS", "3"))
)
# A flapping release must not roll back again and again: past this many automatic rollbacks
# of one release in an hour the engine halts its wave for an operator instead. Other
# releases keep their own count.
RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR = int(
    os.environ.get("RELEASEDECK_AUTO_ROLLBACKS_PER_RELEASE_HOUR", "3")
)
# Where deploy tools send their reports; included in every deploy request.
RELEASEDECK_PUBLIC_URL = os.environ.get("RELEASEDECK_PUBLIC_URL", "http://localhost:8000")
# How long a set-password link an administrator sends stays valid, in seconds (3 days).
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", str(3 * 24 * 3600)))
# How long the Approve/Reject links of a sign-off request mail work (apps/signoffs/links.py).
RELEASEDECK_APPROVAL_LINK_HOURS = float(os.environ.get("RELEASEDECK_APPROVAL_LINK_HOURS", "72"))
# Slack-compatible chat: sign-off requests and wave halts are posted to this incoming webhook
# (off when empty); its buttons post back to /api/v1/chat/slack/interactions/, signed with the
# app's signing secret.
RELEASEDECK_SLACK_WEBHOOK_URL = os.environ.get("RELEASEDECK_SLACK_WEBHOOK_URL", "")
RELEASEDECK_SLACK_SIGNING_SECRET = os.environ.get("RELEASEDECK_SLACK_SIGNING_SECRET", "")
# Who sees a release: "organisation" (everyone with a role reads every release) or "team"
# (only people with a role in the team that owns its application, or organisation-wide).
RELEASEDECK_VISIBILITY = os.environ.get("RELEASEDECK_VISIBILITY", "organisation")
if RELEASEDECK_VISIBILITY not in ("organisation", "team"):
    raise ImproperlyConfigured("RELEASEDECK_VISIBILITY must be 'organisation' or 'team'.")

# GitHub deployment protection (README, "GitHub deployment protection"): a GitHub App whose
# custom deployment protection rule ReleaseDeck answers. Off while the webhook secret is empty.
RELEASEDECK_GITHUB_WEBHOOK_SECRET = os.environ.get("RELEASEDECK_GITHUB_WEBHOOK_SECRET", "")
RELEASEDECK_GITHUB_APP_ID = os.environ.get("RELEASEDECK_GITHUB_APP_ID", "")
# The App's private key: the PEM itself (newlines may be written \n) or the path of its file.
RELEASEDECK_GITHUB_PRIVATE_KEY = os.environ.get("RELEASEDECK_GITHUB_PRIVATE_KEY", "")
# GitHub Enterprise Server: https://<host>/api/v3. Answers go only to URLs under it.
RELEASEDECK_GITHUB_API_URL = os.environ.get("RELEASEDECK_GITHUB_API_URL", "https://api.github.com")
# "github-environment=releasedeck-environment,…"; an environment not named is taken by its name.
RELEASEDECK_GITHUB_ENVIRONMENTS = os.environ.get("RELEASEDECK_GITHUB_ENVIRONMENTS", "")
# "owner/repository=application-slug,…": a repository's commits name only that application's
# releases (needed when several applications' releases name the same commit).
RELEASEDECK_GITHUB_REPOSITORIES = os.environ.get("RELEASEDECK_GITHUB_REPOSITORIES", "")
# How many times an answer to GitHub is tried before it counts as failed (backoff 2, 4, 8 … s).
RELEASEDECK_GITHUB_ATTEMPTS = int(os.environ.get("RELEASEDECK_GITHUB_ATTEMPTS", "6"))

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "releasedeck@localhost")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
# Django's default is no timeout: one unresponsive mail server would hold a worker forever.
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "10"))
# Where EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend writes.
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# REST API: JSON in and out, role-checked by apps.accounts.permissions, documented by OpenAPI.
INSTALLED_APPS += ["django_filters", "drf_spectacular", "drf_spectacular_sidecar", "axes"]
REST_FRAMEWORK.update(
    {
        "DEFAULT_PERMISSION_CLASSES": [
            "apps.accounts.api_guards.ActionPermission",
            "apps.releases.api_guards.ReleaseVisible",
        ],
        "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.JsonParser"],
        "DEFAULT_METADATA_CLASS": "apps.core.metadata.ApiMetadata",
        "DEFAULT_PAGINATION_CLASS": "apps.core.lists.Pagination",
        "PAGE_SIZE": 50,
        "DEFAULT_FILTER_BACKENDS": [
            "apps.releases.api_guards.VisibleFilter",
            "apps.core.lists.FilterBackend",
            "rest_framework.filters.OrderingFilter",
        ],
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "DEFAULT_THROTTLE_CLASSES": [
            "apps.accounts.api_guards.TokenRateThrottle",
            "apps.accounts.api_guards.AnonymousRateThrottle",
        ],
        "DEFAULT_THROTTLE_RATES": {
            "token": os.environ.get("RELEASEDECK_API_TOKEN_RATE", "1200/minute"),
            "anon": os.environ.get("RELEASEDECK_API_ANON_RATE", "120/minute"),
            # Signed inbound deliveries (GitHub, incident sources, Slack), per client address.
            "webhook": os.environ.get("RELEASEDECK_WEBHOOK_RATE", "1200/minute"),
        },
    }
)
# Failed token authentications per client address: past this, the address's token requests
# are answered 429 until the period ends (empty: unlimited).
RELEASEDECK_FAILED_TOKEN_RATE = os.environ.get("RELEASEDECK_FAILED_TOKEN_RATE", "20/minute")
# A request body larger than this is refused (413 under /api/) before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("RELEASEDECK_MAX_BODY_BYTES", str(1024 * 1024)))
SPECTACULAR_SETTINGS = {
    "TITLE": "ReleaseDeck API",
    "DESCRIPTION": (
        "Releases through gated phases, UAT sign-off and progressive rollout. Authenticate with "
        "`Authorization: Token <key>` (create keys at /api/v1/tokens/ or with "
        "`manage.py create_api_token`) or a signed-in session with its CSRF token. Every error "
        "is JSON with a `detail`; a refused phase move is 409 with its `blockers`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.postprocess_schema",
        "config.api_docs.describe_operations",
    ],
    "ENUM_NAME_OVERRIDES": {
        "PhaseEnum": "apps.releases.models.Phase",
        "WaveStateEnum": "apps.rollouts.models.WaveState",
        "ChecklistStatusEnum": "apps.releases.models.ItemStatus",
        "TestStatusEnum": "apps.releases.models.TestStatus",
        "DefectStatusEnum": "apps.releases.models.DefectStatus",
        "MoveStateEnum": "apps.releases.models.MoveState",
        # An environment's tier and the tiers an operator's grant is limited to: one enum.
        "TierEnum": "apps.environments.models.Tier",
        # Two choice sets are called `kind`: a check's keeps the name it always had.
        "KindEnum": "apps.rollouts.models.CheckKind",
        "IncidentSourceKindEnum": "apps.incidents.models.SourceKind",
    },
    # Served from our own static files: the docs page needs no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# A release's status document is cached per revision this long: changes show at once (they bump
# the revision); what time alone changes (sign-off expiry, hypercare) shows within this.
RELEASEDECK_STATUS_CACHE_SECONDS = float(os.environ.get("RELEASEDECK_STATUS_CACHE_SECONDS", "2"))

# The cache holds sessions, time zones, API throttling counters and status documents; shared
# through Redis when there is one.
CACHES = {
    "default": (
        {
            # While Redis is down, reads miss and writes are dropped (with a warning): the
            # database answers instead, and a Redis that does not answer is given up quickly.
            "BACKEND": "apps.core.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "releasedeck",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Sessions are read from the cache (written through to the database), so an open page's poll
# does not spend a query on its session.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Failed sign-ins: after 5 wrong passwords for one username from one address, that pair is
# locked out for 15 minutes (django-axes; its middleware must come last).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Passwords are only ever posted. The provider's callback is a GET whose refusals (a switched-off
# account) Django reports as failures of no username, which would otherwise lock an office's
# address out of single sign-on; the provider guards its own sign-in form.
AXES_NEVER_LOCKOUT_GET = True

# Single sign-on through an OpenID Connect provider (mozilla-django-oidc), off unless an issuer
# and a client id are set. Endpoints are discovered from the issuer at the first sign-in; the
# provider's groups map to roles at every sign-in (apps/accounts/sso_config.py, README).
RELEASEDECK_OIDC_ISSUER = os.environ.get("RELEASEDECK_OIDC_ISSUER", "")
RELEASEDECK_OIDC_CLIENT_ID = os.environ.get("RELEASEDECK_OIDC_CLIENT_ID", "")
RELEASEDECK_OIDC_CLIENT_SECRET = os.environ.get("RELEASEDECK_OIDC_CLIENT_SECRET", "")
RELEASEDECK_OIDC_SCOPES = os.environ.get("RELEASEDECK_OIDC_SCOPES", "openid email profile groups")
RELEASEDECK_OIDC_GROUPS_CLAIM = os.environ.get("RELEASEDECK_OIDC_GROUPS_CLAIM", "groups")
RELEASEDECK_OIDC_ROLE_MAP = os.environ.get("RELEASEDECK_OIDC_ROLE_MAP", "")
RELEASEDECK_OIDC_NAME = os.environ.get("RELEASEDECK_OIDC_NAME", "single sign-on")
# Off: the sign-in page shows only the provider's button and password sign-ins are refused,
# the admin's included.
RELEASEDECK_PASSWORD_LOGIN = env_bool("RELEASEDECK_PASSWORD_LOGIN", True)
AUTHENTICATION_BACKENDS += ["apps.accounts.oidc.OidcBackend"]
OIDC_AUTHENTICATE_CLASS = "apps.accounts.oidc.OidcSignInView"
OIDC_CALLBACK_CLASS = "apps.accounts.oidc.OidcCallbackView"
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
# Seconds each request to the provider (discovery, token, keys, user info) waits for an answer.
OIDC_TIMEOUT = float(os.environ.get("RELEASEDECK_OIDC_TIMEOUT", "10"))
