"""Zero-settings demo and development: SQLite and a file-system broker unless told otherwise."""

from .base import *  # noqa: F403
from .base import VAR_DIR, env_bool, env_list

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = SECRET_KEY or "local-only-insecure-key-do-not-use-in-production"  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = VAR_DIR / "mail"
# The demo's rollout checks its own web server (/demo/health), which outbound requests may
# otherwise not reach; rundemo adds the address it binds to when that is not loopback.
RELEASEDECK_EGRESS_ALLOW = [
    *env_list("RELEASEDECK_EGRESS_ALLOW"),
    "127.0.0.1/32",
    "::1/128",
    "localhost",
]
# Serves /demo/health, the stand-in for the service the demo's canary rolls out.
RELEASEDECK_DEMO_ENDPOINTS = True
