"""`relais bench_materialise`: time the materialiser on N synthetic professionals.

Everything it creates is rolled back at the end (one transaction), so it can run on
any database; run it on PostgreSQL for figures that mean something.
"""

import time as clock
from datetime import time, timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from relais.agenda.models import AvailabilityRule, Slot
from relais.agenda.services import slots_materialise
from relais.directory.models import Practice, Professional
from relais.territory.models import Commune, Departement


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Mesure la matérialisation des créneaux (données fictives annulées à la fin)."

    def add_arguments(self, parser):
        parser.add_argument("--professionals", type=int, default=1000)
        parser.add_argument("--days", type=int, default=14)

    def handle(self, *args, professionals, days, **options):
        try:
            with transaction.atomic():
                self._run(professionals, days)
                raise _Rollback
        except _Rollback:
            self.stdout.write("Données de mesure annulées.")

    def _run(self, count: int, days: int) -> None:
        dep, _ = Departement.objects.get_or_create(code="999", defaults={"name": "Banc d'essai"})
        commune, _ = Commune.objects.get_or_create(
            insee="99999",
            defaults={"name": "Banc", "search_name": "banc", "departement": dep},
        )
        pros = Professional.objects.bulk_create(
            Professional(
                rpps=f"998{i:08d}", profession="medecin", first_name="Banc", last_name=f"P{i}"
            )
            for i in range(count)
        )
        practices = Practice.objects.bulk_create(
            Practice(name=f"Cabinet {i}", address="-", commune=commune, latitude=0.0, longitude=0.0)
            for i in range(count)
        )
        Practice.professionals.through.objects.bulk_create(
            Practice.professionals.through(practice_id=pr.pk, professional_id=p.pk)
            for p, pr in zip(pros, practices, strict=True)
        )
        # Per professional: weekday evenings in 20-minute slots and a Saturday plage.
        rules = []
        for p, pr in zip(pros, practices, strict=True):
            rules.append(
                AvailabilityRule(
                    professional=p,
                    practice=pr,
                    weekdays=[0, 1, 2, 3, 4],
                    start_time=time(17),
                    end_time=time(19),
                    slot_minutes=20,
                )
            )
            rules.append(
                AvailabilityRule(
                    professional=p,
                    practice=pr,
                    weekdays=[5],
                    start_time=time(9),
                    end_time=time(12),
                    slot_minutes=None,
                    capacity=6,
                )
            )
        AvailabilityRule.objects.bulk_create(rules)
        now = timezone.now()
        passes = [
            ("première passe (création)", now),
            ("deuxième passe (rien à faire)", now),
            ("le lendemain (un jour de plus)", now + timedelta(days=1)),
        ]
        for label, when in passes:
            started = clock.perf_counter()
            result = slots_materialise(horizon_days=days, now=when)
            elapsed = clock.perf_counter() - started
            self.stdout.write(
                f"{label} : {count} professionnels × {days} jours en {elapsed:.2f} s "
                f"({result.created} créés, {result.updated} mis à jour, "
                f"{result.removed} retirés)"
            )
        self.stdout.write(f"Créneaux en base : {Slot.objects.filter(rule__in=rules).count()}")
