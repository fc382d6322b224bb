import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_application(apps, schema_editor):
    Wave = apps.get_model("rollouts", "Wave")
    RolloutPlan = apps.get_model("rollouts", "RolloutPlan")
    Wave.objects.update(
        application_id=Subquery(
            RolloutPlan.objects.filter(pk=OuterRef("plan_id")).values("release__application_id")[
                :1
            ]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("releases", "0002_release_list_order_index"),
        ("rollouts", "0004_deploy_attempts_and_pending_rollbacks"),
    ]

    operations = [
        migrations.AddField(
            model_name="wave",
            name="application",
            field=models.ForeignKey(
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="releases.application",
            ),
        ),
        migrations.RunPython(fill_application, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="wave",
            name="application",
            field=models.ForeignKey(
                editable=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="releases.application",
            ),
        ),
        migrations.AddIndex(
            model_name="wave",
            index=models.Index(fields=["updated_at"], name="wave_updated_idx"),
        ),
        migrations.AddIndex(
            model_name="wave",
            index=models.Index(
                models.F("application"),
                models.F("environment"),
                models.OrderBy(models.F("finished_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                condition=models.Q(("shadow", False), ("state", "succeeded")),
                name="wave_deployed_latest",
            ),
        ),
    ]
