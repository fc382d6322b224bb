"""Personas and shared fixtures.

rita (release manager, and platform: environments and freezes) owns releases; alice (approver, qa) and bob (approver, business owner)
sign off; oscar operates rollouts; vera only looks; charlie has no role at all; root is an
administrator.
"""

import os

import pytest

from apps.stakeholders.models import ensure_default_roles

from .factories import UserFactory, give

pytest_plugins = ["tests.celery_worker", "tests.fake_github"]

# Playwright's sync API runs an event loop in the test thread; the ORM calls tests make
# alongside it are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def celery_worker_env(fake_github_session):
    """The worker answers GitHub deployment protection rules through the session's fake GitHub."""
    return fake_github_session.env()


@pytest.fixture(scope="session", autouse=True)
def _empty_cache():
    """The test database is new each run but Redis is not: entries keyed by row ids (sessions,
    time zones, status documents) from an earlier run would otherwise meet reused ids."""
    from django.core.cache import cache

    cache.clear()


def _persona(username: str, *roles: str, **extra: object):
    user = UserFactory(username=username, **extra)
    give(user, *roles)
    return user


@pytest.fixture
def roles_seeded(db):
    # Transactional tests truncate tables, taking migration-seeded rows with them.
    ensure_default_roles()


@pytest.fixture
def rita(roles_seeded):
    return _persona("rita", "release_manager", "platform")


@pytest.fixture
def alice(roles_seeded):
    return _persona("alice", "approver")


@pytest.fixture
def bob(roles_seeded):
    return _persona("bob", "approver")


@pytest.fixture
def oscar(roles_seeded):
    return _persona("oscar", "operator")


@pytest.fixture
def vera(roles_seeded):
    return _persona("vera", "viewer")


@pytest.fixture
def charlie(roles_seeded):
    return _persona("charlie")


@pytest.fixture
def root(roles_seeded):
    return _persona("root", is_superuser=True, is_staff=True)


@pytest.fixture
def poll_costs_one_query():
    """Ask `url` as an open page's poller does; the whole request (session, person, time zone,
    change counter) must answer 204 with one query. Returns that query's SQL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def check(client, url: str) -> str:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 204
        assert response.content == b""
        assert len(queries) == 1, [q["sql"] for q in queries]
        return queries[0]["sql"]

    return check
