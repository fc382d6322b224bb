from django.db import migrations

# Separation of duties held by the database too: nobody signs off a release they own or created.
CREATE = """
CREATE OR REPLACE FUNCTION signoff_refuse_self_approval() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM releases_release r
        WHERE r.id = NEW.release_id AND (r.owner_id = NEW.signer_id OR r.created_by_id = NEW.signer_id)
    ) THEN
        RAISE EXCEPTION 'a release cannot be signed off by its owner or creator'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER signoff_no_self_approval
    BEFORE INSERT OR UPDATE ON signoffs_signoff
    FOR EACH ROW EXECUTE FUNCTION signoff_refuse_self_approval();
"""
DROP = """
DROP TRIGGER IF EXISTS signoff_no_self_approval ON signoffs_signoff;
DROP FUNCTION IF EXISTS signoff_refuse_self_approval();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("signoffs", "0001_initial"), ("releases", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
