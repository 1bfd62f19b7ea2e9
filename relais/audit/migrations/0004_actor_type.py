"""Every audit row names its actor: `actor_type` (+ `actor_label` for tasks and patients).

Existing rows are not rewritten (the trail is append-only, and the trigger of 0003 refuses
UPDATE): they keep an empty `actor_type`. On PostgreSQL a CHECK constraint, added NOT VALID
so that it applies to new rows only, refuses a row that does not name its actor."""

from django.db import migrations, models

CHECK = """
ALTER TABLE audit_auditevent DROP CONSTRAINT IF EXISTS audit_actor_named;
ALTER TABLE audit_auditevent ADD CONSTRAINT audit_actor_named CHECK (
    (actor_type = 'user' AND user_id IS NOT NULL)
    OR (actor_type = 'api_client' AND api_client <> '')
    OR (actor_type IN ('patient_link', 'public_form', 'professional_link', 'system')
         AND actor_label <> '')
) NOT VALID;
"""

UNCHECK = "ALTER TABLE audit_auditevent DROP CONSTRAINT IF EXISTS audit_actor_named;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CHECK, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNCHECK, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only_trigger")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="actor_type",
            field=models.CharField(
                blank=True,
                choices=[
                    ("user", "utilisateur"),
                    ("api_client", "client API"),
                    ("patient_link", "patient (lien de suivi signé)"),
                    ("public_form", "patient (formulaire web)"),
                    ("professional_link", "professionnel (lien d'offre signé)"),
                    ("system", "système (tâche ou commande)"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="actor_label",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.RunPython(forward, backward),
    ]
