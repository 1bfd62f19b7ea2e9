"""`relais run_periodic <job> [--if-due]`: run one periodic job now, in this process.

The workers schedule the jobs themselves (relais.notifications.scheduler); this command is
what the systemd timers run as a fallback, and a manual catch-up. With `--if-due` it runs
the job only if it wins the job's current period (the same PeriodicJob row as the
workers'), so a timer and the workers never run a job twice in one period.
`relais run_periodic --list` shows the jobs, their period and next due time."""

import json

from django.core.management.base import BaseCommand, CommandError

from relais.notifications import scheduler
from relais.notifications.models import PeriodicJob


class Command(BaseCommand):
    help = "Lance une tâche périodique maintenant (--if-due : seulement si elle est due)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("job", nargs="?", help="job name (see --list)")
        parser.add_argument("--if-due", action="store_true", help="only if due this period")
        parser.add_argument("--list", action="store_true", help="list the jobs")

    def handle(self, *, job, if_due: bool, list: bool, **options) -> None:  # noqa: A002
        if list or not job:
            rows = dict(PeriodicJob.objects.values_list("name", "next_run_at"))
            for j in scheduler.jobs():
                due = rows.get(j.name)
                self.stdout.write(
                    f"{j.name:20} {j.period:32} next: {due.isoformat() if due else '-'}  ({j.doc})"
                )
            if not job:
                return
        try:
            definition = scheduler.job_named(job)
        except KeyError:
            names = ", ".join(j.name for j in scheduler.jobs())
            raise CommandError(
                f"Tâche périodique inconnue : {job!r} (connues : {names})."
            ) from None
        if if_due and not scheduler.claim(definition, worker_id="run_periodic"):
            self.stdout.write(f"{job}: not due (already run this period)")
            return
        value = scheduler.run_now(definition, worker_id="run_periodic")
        self.stdout.write(f"{job}: " + json.dumps(value, default=str, sort_keys=True))
