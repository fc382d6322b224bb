from django.db import migrations

# The release list's order (apps/releases/views_forms.py, release_list): with it the first page
# is read from this index instead of sorting every release (bench/scale.py, 10,000 releases).
# SQLite sorts NULLs last in a descending index anyway and has no NULLS LAST there.
INDEX = "releases_release_list_order_idx"
COLUMNS = {
    "postgresql": "planned_start DESC NULLS LAST, created_at DESC, id DESC",
    "sqlite": "planned_start DESC, created_at DESC, id DESC",
}


def forwards(apps, schema_editor):
    columns = COLUMNS.get(schema_editor.connection.vendor)
    if columns:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON releases_release ({columns})", params=None
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}", params=None)


class Migration(migrations.Migration):
    dependencies = [("releases", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
