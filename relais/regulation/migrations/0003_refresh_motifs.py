from django.db import migrations


def refresh(apps, schema_editor):
    # The CSV gained real CISP-2 codes for the matcher; load the new rows.
    from relais.regulation.migrations import _motifs

    _motifs.load(apps)


class Migration(migrations.Migration):
    dependencies = [("regulation", "0002_load_motifs")]
    operations = [migrations.RunPython(refresh, migrations.RunPython.noop)]
