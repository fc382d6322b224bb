import uuid

from django.db import migrations, models


def give_each_row_its_own_key(apps, schema_editor):
    Notification = apps.get_model("notifications", "Notification")
    for pk in Notification.objects.values_list("pk", flat=True).iterator():
        Notification.objects.filter(pk=pk).update(key=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="key",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(give_each_row_its_own_key, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="notification",
            name="key",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
    ]
