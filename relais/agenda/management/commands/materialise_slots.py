"""`relais materialise_slots`: expand availability rules into slots (cron, every night
and after deployments); `--enqueue` hands it to the task worker instead."""

from django.core.management.base import BaseCommand

from relais.agenda.services import DEFAULT_HORIZON_DAYS, slots_materialise


class Command(BaseCommand):
    help = "Crée et met à jour les créneaux SNP à partir des règles de disponibilité."

    def add_arguments(self, parser):
        parser.add_argument("--horizon", type=int, default=DEFAULT_HORIZON_DAYS)
        parser.add_argument("--enqueue", action="store_true", help="via le worker de tâches")

    def handle(self, *args, horizon, enqueue, **options):
        if enqueue:
            from relais.agenda.tasks import materialise_slots

            materialise_slots.enqueue(horizon_days=horizon)
            self.stdout.write("Tâche de matérialisation mise en file.")
            return
        result = slots_materialise(horizon_days=horizon)
        self.stdout.write(
            f"{result.professionals} professionnel(s) : {result.created} créneau(x) créé(s), "
            f"{result.updated} mis à jour, {result.removed} retiré(s)."
        )
