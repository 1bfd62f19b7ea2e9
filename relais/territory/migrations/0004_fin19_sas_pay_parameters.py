"""Per-SAS participation forfait parameters (issue 19, item 7): amount and weekly hours."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("territory", "0003_admin_cpts_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="sas",
            name="forfait_eur",
            field=models.DecimalField(
                blank=True,
                decimal_places=2,
                max_digits=7,
                null=True,
                verbose_name="forfait annuel (€)",
            ),
        ),
        migrations.AddField(
            model_name="sas",
            name="forfait_min_weekly_hours",
            field=models.DecimalField(
                blank=True,
                decimal_places=2,
                max_digits=4,
                null=True,
                verbose_name="heures publiées par semaine pour le forfait",
            ),
        ),
    ]
