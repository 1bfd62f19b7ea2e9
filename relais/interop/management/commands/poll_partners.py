"""Poll the partner sources whose turn has come (run every minute by
deploy/systemd/relais-partners.timer; each source has its own interval, and is claimed
by one run only). `--enqueue` hands the work to the task worker."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Interroge les logiciels d'agenda partenaires dont le tour est venu."

    def add_arguments(self, parser):
        parser.add_argument(
            "--enqueue", action="store_true", help="confier l'interrogation au worker de tâches"
        )

    def handle(self, *args, enqueue=False, **options):
        if enqueue:
            from relais.interop.tasks import poll_partners

            result = poll_partners.enqueue()
            self.stdout.write(f"Tâche poll_partners en file : {result.id}")
            return
        from relais.interop.services import partners_poll_due

        done = partners_poll_due()
        if not done:
            self.stdout.write("Aucune source à interroger.")
        for name, stats in done.items():
            summary = ", ".join(f"{k} {v}" for k, v in stats.items())
            self.stdout.write(f"{name} : {summary}")
