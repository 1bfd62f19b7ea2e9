import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Sert la démo : serveur web et worker des tâches (notifications) ensemble."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr, **options):
        from relais.core.site import adopt_served_address

        # One public address: the links printed, texted, e-mailed and published (FHIR
        # fullUrl, Slot.comment, $bulk-publish) follow the served port (make demo PORT=…).
        url = adopt_served_address(addr)
        self.stdout.write(f"Relais servi sur {url}/ (liens envoyés et publiés : SITE_URL={url}).")
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "relais.cli", "run_worker", "--interval", "2"],
        )
        self.stdout.write(f"Worker des tâches démarré (pid {worker.pid}).")
        # The motif matcher's pipeline takes 5-15 s to build: built now, in a background
        # thread, rather than on the first suggestion typed at intake.
        from relais.regulation.matching import warm

        warm(background=True)
        try:
            call_command("runserver", addr, use_reloader=False)
        finally:
            worker.terminate()
            worker.wait(timeout=10)
