"""Tests: real PostgreSQL and Redis on loopback, overridable through the environment."""

import os
from datetime import timedelta

from .base import *  # noqa: F403
from .base import database_from_env

SECRET_KEY = "test-only-key"
DEBUG = False
DATABASES = {
    # Its own variable, so an exported DATABASE_URL never points the tests elsewhere.
    "default": database_from_env(
        "postgres://postgres@127.0.0.1:5432/releasedeck", variable="TEST_DATABASE_URL"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT = "config.celery:RedisTransport"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
RELEASEDECK_TICK_SECONDS = 1.0
RELEASEDECK_RECHECK = timedelta(seconds=1)
RELEASEDECK_STEP_LEASE = timedelta(seconds=3)
RELEASEDECK_SIMULATED_DEPLOY = timedelta(0)
# Deploy tools, health endpoints and metrics in the tests are servers on loopback.
RELEASEDECK_EGRESS_ALLOW = ["127.0.0.0/8", "::1", "localhost"]
