"""Settings for the worker and beat of `python bench/engine.py`: the test settings (simulated
deployer, short lease), but with database connections kept between tasks, as every deployed
worker keeps them (`database_from_env` in config/settings/base.py). The test settings close
them after each task only so the test database can be dropped."""

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = 60
