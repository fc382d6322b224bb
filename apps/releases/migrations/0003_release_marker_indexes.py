from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0002_release_list_order_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="release",
            index=models.Index(fields=["phase_entered_at"], name="release_phase_entered_idx"),
        ),
        migrations.AddIndex(
            model_name="release",
            index=models.Index(fields=["updated_at"], name="release_updated_idx"),
        ),
    ]
