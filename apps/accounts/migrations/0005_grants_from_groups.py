"""Roles were Django groups held everywhere; each becomes an organisation-wide grant, so an
upgrade takes nothing away. Release managers also set environments and stop the line today,
which is now the platform role, so they get it too."""

from django.db import migrations

ROLES = ["release_manager", "approver", "operator", "viewer"]


def groups_to_grants(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    RoleGrant = apps.get_model("accounts", "RoleGrant")
    for group in Group.objects.filter(name__in=ROLES):
        for user in group.user_set.all():
            RoleGrant.objects.get_or_create(user=user, role=group.name, team=None)
            if group.name == "release_manager":
                RoleGrant.objects.get_or_create(user=user, role="platform", team=None)
    Group.objects.filter(name__in=ROLES).delete()


def grants_to_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    RoleGrant = apps.get_model("accounts", "RoleGrant")
    for name in ROLES:
        group, _ = Group.objects.get_or_create(name=name)
        for grant in RoleGrant.objects.filter(role=name):
            group.user_set.add(grant.user_id)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_teams_and_role_grants")]
    operations = [migrations.RunPython(groups_to_grants, grants_to_groups)]
