"""`relais sweep_tasks`: run the periodic sweep now (reclaim lapsed task leases, close
interrupted sends, deliver outbox messages without a live task). The workers run it on
their own every RELAIS_SWEEP_SECONDS; this command is for a timer or a manual catch-up.
`--all` delivers every pending message, live task or not (safe: deliveries are claimed)."""

import json

from django.core.management.base import BaseCommand

from relais.notifications import services


class Command(BaseCommand):
    help = "Balayage des tâches : reprise des tâches bloquées, envoi des messages orphelins."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--all", action="store_true", help="deliver every pending message")
        parser.add_argument(
            "--if-due", action="store_true", help="only if no worker ran it this interval"
        )

    def handle(self, *, all: bool, if_due: bool, **options) -> None:  # noqa: A002
        if if_due:
            result = services.sweep_if_due(worker_id="sweep_tasks")
            if result is None:
                self.stdout.write("sweep: not due (a worker ran it this interval)")
                return
        else:
            result = services.sweep_run(worker_id="sweep_tasks")
        if all:
            result["all_pending"] = services.notifications_deliver_pending(only_orphans=False)
        self.stdout.write("sweep: " + json.dumps(result, sort_keys=True))
