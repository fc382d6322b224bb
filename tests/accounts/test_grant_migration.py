"""Upgrading from global groups locks nobody out: each group becomes an organisation-wide grant."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("accounts", "0004_teams_and_role_grants")]
AFTER = [("accounts", "0005_grants_from_groups")]


@pytest.mark.django_db(transaction=True)
def test_each_group_becomes_an_organisation_wide_grant_and_release_managers_get_platform():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Group, User = old.get_model("auth", "Group"), old.get_model("auth", "User")
    for name in ("release_manager", "approver", "operator", "viewer"):
        Group.objects.get_or_create(name=name)
    rm = User.objects.create(username="old-rm")
    both = User.objects.create(username="old-both")
    nobody = User.objects.create(username="old-nobody")
    rm.groups.add(Group.objects.get(name="release_manager"))
    both.groups.add(Group.objects.get(name="approver"), Group.objects.get(name="operator"))

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    RoleGrant = new.get_model("accounts", "RoleGrant")

    def held(user):
        return set(RoleGrant.objects.filter(user_id=user.pk).values_list("role", "team_id"))

    assert held(rm) == {("release_manager", None), ("platform", None)}
    assert held(both) == {("approver", None), ("operator", None)}
    assert held(nobody) == set()
    assert not new.get_model("auth", "Group").objects.filter(name="approver").exists()

    # And back: the groups return with their members.
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    back = executor.loader.project_state(BEFORE).apps
    group = back.get_model("auth", "Group").objects.get(name="approver")
    assert list(group.user_set.values_list("username", flat=True)) == ["old-both"]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
