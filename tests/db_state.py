"""Row count and content digest of every project table: proves a refused call wrote nothing."""

from django.apps import apps as django_apps
from django.db import connection

PROJECT_APPS = {"auth", "accounts", "audit", "environments", "releases"}
PROJECT_APPS |= {"stakeholders", "signoffs", "rollouts", "notifications", "github", "incidents"}


def db_state() -> dict[str, tuple]:
    tables = [
        m._meta.db_table for m in django_apps.get_models() if m._meta.app_label in PROJECT_APPS
    ]
    sql = " UNION ALL ".join(
        f"SELECT '{t}', count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), ''))"
        f" FROM {t} r"
        for t in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {table: (count, digest) for table, count, digest in cursor.fetchall()}
