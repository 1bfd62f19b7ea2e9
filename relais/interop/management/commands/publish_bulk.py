"""Regenerate the SMART Scheduling Links files served at /fhir/bulk/ (run by
deploy/systemd/relais-bulk.timer; `--enqueue` hands the work to the task worker)."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Écrit les fichiers NDJSON du flux $bulk-publish (créneaux publics)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--enqueue", action="store_true", help="confier la génération au worker de tâches"
        )

    def handle(self, *args, enqueue=False, **options):
        if enqueue:
            from relais.interop.tasks import publish_bulk

            result = publish_bulk.enqueue()
            self.stdout.write(f"Tâche publish_bulk en file : {result.id}")
            return
        from relais.interop.smart import bulk_publish_files

        manifest = bulk_publish_files()
        counts = ", ".join(f"{k} {v['count']}" for k, v in manifest["files"].items())
        self.stdout.write(f"Fichiers publiés ({manifest['transactionTime']}) : {counts}")
