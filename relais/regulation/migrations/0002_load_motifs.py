from django.db import migrations


def load(apps, schema_editor):
    from relais.regulation.migrations import _motifs

    _motifs.load(apps)


class Migration(migrations.Migration):
    dependencies = [("regulation", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
