"""Settings for `python bench/api.py` only: the local settings, plus bench-only URLs."""

from config.settings.local import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.api_urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
