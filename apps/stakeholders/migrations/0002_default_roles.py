from django.db import migrations

DEFAULT_ROLES = [
    ("business_owner", "Business owner"),
    ("qa", "QA"),
    ("it_support", "IT support"),
    ("security", "Security"),
    ("cio", "CIO"),
    ("end_user_rep", "End-user representative"),
]


def create_roles(apps, schema_editor):
    StakeholderRole = apps.get_model("stakeholders", "StakeholderRole")
    for slug, name in DEFAULT_ROLES:
        StakeholderRole.objects.get_or_create(slug=slug, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("stakeholders", "0001_initial")]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
