"""Benchmark the indicators on one year of a département.

relais bench_indicators [--requests 300000] [--runs 5] [--reset] [--explain]

Bulk-creates, in the configured database, a département of its own ("BEN", with a SAS, four
CPTS, 400 professionals, 20,000 patients) and one year (2025) of requests with their bookings
and slots, then times `indicators_compute` over the whole year for the SAS and for one CPTS,
and the dashboard's other figures. A second run reuses the data (`--reset` rebuilds it).
Meant for a throw-away benchmark database, not for a real one. Not a test: it prints figures.
"""

import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from relais.agenda.models import Slot, SlotStatus
from relais.directory.models import Practice, Profession, Professional
from relais.indicators.selectors import (
    contract_compute,
    indicators_compute,
    indicators_daily,
    indicators_heatmap,
)
from relais.orientation.models import Booking, BookingStatus
from relais.regulation.models import Channel, Motif, Patient, Request, RequestStatus
from relais.territory.models import Commune, Cpts, Departement, Sas

PARIS = ZoneInfo("Europe/Paris")
DEP_CODE = "BEN"
YEAR_START, YEAR_END = date(2025, 1, 1), date(2025, 12, 31)
PROFESSIONALS = 400
PATIENTS = 20_000
COMMUNES = 20
BATCH = 5_000
# Current status of a request, with its weight (about a third seen, as in SNP91).
STATUSES = [
    (RequestStatus.DONE, 35),
    (RequestStatus.NOSHOW, 3),
    (RequestStatus.BOOKED, 2),
    (RequestStatus.ADVICE, 15),
    (RequestStatus.REDIRECTED, 2),
    (RequestStatus.UNPLACED, 20),
    (RequestStatus.CANCELLED, 5),
    (RequestStatus.OPEN, 18),
]
BOOKING_OF = {
    RequestStatus.DONE: BookingStatus.FULFILLED,
    RequestStatus.NOSHOW: BookingStatus.NOSHOW,
    RequestStatus.BOOKED: BookingStatus.BOOKED,
}
FREE_SLOTS_PER_BOOKING = 1.5


class Command(BaseCommand):
    help = "Crée un an d'activité d'un département et mesure le calcul des indicateurs."

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=300_000)
        parser.add_argument("--runs", type=int, default=5, help="Mesures par calcul.")
        parser.add_argument("--reset", action="store_true", help="Recrée les données du banc.")
        parser.add_argument(
            "--explain", action="store_true", help="EXPLAIN ANALYZE des requêtes (PostgreSQL)."
        )
        parser.add_argument("--seed", type=int, default=2025)

    def handle(self, *args, **options):
        sas = Sas.objects.filter(departement__code=DEP_CODE).first()
        existing = Request.objects.filter(sas=sas).count() if sas else 0
        if options["reset"] or existing == 0:
            began = time.perf_counter()
            sas = self._build(options["requests"], random.Random(options["seed"]))
            if connection.vendor == "postgresql":
                # What autovacuum does soon after a bulk load (PostgreSQL 13+ vacuums after
                # inserts too): fresh planner statistics and the visibility map.
                verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
                with connection.cursor() as cursor:
                    for table in ("agenda_slot", "orientation_booking", "regulation_request"):
                        cursor.execute(f"{verb} {table}")
                    cursor.execute("ANALYZE")
            self.stdout.write(f"Données créées en {time.perf_counter() - began:.1f} s.")
        else:
            self.stdout.write(f"Données existantes réutilisées ({existing} demandes).")
        cpts = Cpts.objects.filter(sas=sas).order_by("name").first()
        self._report_volume(sas)
        period = {"start": YEAR_START, "end": YEAR_END}
        runs = options["runs"]
        self._time(
            "indicators_compute, SAS, 1 an", runs, indicators_compute, **period, sas_ids={sas.pk}
        )
        self._time(
            "indicators_compute, 1 CPTS, 1 an",
            runs,
            indicators_compute,
            **period,
            cpts_ids={cpts.pk},
        )
        month = {"start": date(2025, 3, 1), "end": date(2025, 3, 31)}
        self._time(
            "indicators_compute, SAS, 1 mois", runs, indicators_compute, **month, sas_ids={sas.pk}
        )
        for label, function in (
            ("indicators_daily", indicators_daily),
            ("indicators_heatmap", indicators_heatmap),
            ("contract_compute", contract_compute),
        ):
            self._time(f"{label}, SAS, 1 an", runs, function, **period, sas_ids={sas.pk})
        if options["explain"]:
            self._explain(**period, sas_ids={sas.pk})

    # --- Measures -------------------------------------------------------------------

    def _time(self, label, runs, function, **kwargs):
        function(**kwargs)  # warm-up: caches, connection, plan
        durations = []
        for _ in range(runs):
            began = time.perf_counter()
            function(**kwargs)
            durations.append(time.perf_counter() - began)
        self.stdout.write(
            f"{label:<40} médiane {statistics.median(durations) * 1000:7.0f} ms  "
            f"(min {min(durations) * 1000:.0f}, max {max(durations) * 1000:.0f}, {runs} mesures)"
        )

    def _report_volume(self, sas):
        requests = Request.objects.filter(sas=sas)
        self.stdout.write(
            f"Base {connection.vendor} : {requests.count()} demandes, "
            f"{Booking.objects.filter(request__sas=sas).count()} rendez-vous, "
            f"{Slot.objects.filter(practice__commune__departement__code=DEP_CODE).count()} "
            "créneaux dans le département de banc d'essai."
        )

    def _explain(self, **kwargs):
        if connection.vendor != "postgresql":
            self.stdout.write("EXPLAIN ANALYZE : PostgreSQL seulement.")
            return
        with CaptureQueriesContext(connection) as captured:
            indicators_compute(**kwargs)
            contract_compute(**kwargs)
        with connection.cursor() as cursor:
            for n, query in enumerate(captured.captured_queries, start=1):
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plan = [row[0] for row in cursor.fetchall()]
                self.stdout.write(f"\n--- requête {n} ({query['time']} s) : {query['sql'][:160]}…")
                for line in plan:
                    if any(
                        word in line
                        for word in ("Scan", "Join", "Aggregate", "Execution Time", "Sort ")
                    ):
                        self.stdout.write("  " + line.strip()[:150])

    # --- Data -----------------------------------------------------------------------

    @transaction.atomic
    def _build(self, n_requests: int, rng: random.Random) -> Sas:
        self._delete()
        dep = Departement.objects.create(
            code=DEP_CODE, name="Département de banc d'essai", default_radius_km=20
        )
        communes = Commune.objects.bulk_create(
            Commune(
                insee=f"B{i:04d}",
                name=f"Commune {i}",
                search_name=f"commune {i}",
                departement=dep,
                latitude=48.5 + i / 100,
                longitude=2.3 + i / 100,
            )
            for i in range(COMMUNES)
        )
        sas = Sas.objects.create(departement=dep, name="SAS banc d'essai")
        cpts_list = []
        for k in range(4):
            cpts = Cpts.objects.create(
                name=f"CPTS banc d'essai {k + 1}", finess=f"B9{k:07d}", sas=sas
            )
            cpts.communes.add(*communes[k * 5 : (k + 1) * 5])
            cpts_list.append(cpts)
        professions = [Profession.MEDECIN] * 8 + [Profession.INFIRMIER, Profession.KINE]
        professionals = Professional.objects.bulk_create(
            Professional(
                rpps=f"998{i:08d}",
                profession=professions[i % len(professions)],
                specialty="SM54",
                first_name="Banc",
                last_name=f"Essai{i}",
                cpts=cpts_list[i % 4] if i % 3 else None,
                sas_participant=i % 2 == 0,
                cpts_level2=i % 5 == 0,
                accepts_surnumeraire=i % 4 == 0,
            )
            for i in range(PROFESSIONALS)
        )
        practices = Practice.objects.bulk_create(
            Practice(
                name=f"Cabinet {p.last_name}",
                address="1 rue du Banc",
                commune=communes[i % COMMUNES],
                latitude=communes[i % COMMUNES].latitude,
                longitude=communes[i % COMMUNES].longitude,
            )
            for i, p in enumerate(professionals)
        )
        Practice.professionals.through.objects.bulk_create(
            Practice.professionals.through(practice=practice, professional=professional)
            for practice, professional in zip(practices, professionals, strict=True)
        )
        patients = Patient.objects.bulk_create(
            (
                Patient(first_name="Banc", last_name=f"Patient{i}", commune=communes[i % COMMUNES])
                for i in range(PATIENTS)
            ),
            batch_size=BATCH,
        )
        motifs = list(Motif.objects.all()) or [None]
        cpts_of_commune = {c.pk: cpts_list[i // 5] for i, c in enumerate(communes)}
        statuses = [s for s, _ in STATUSES]
        weights = [w for _, w in STATUSES]
        first = datetime.combine(YEAR_START, datetime.min.time(), tzinfo=PARIS)
        seconds = (YEAR_END - YEAR_START).days * 86_400 + 86_399
        hours = list(range(24))
        hour_weights = [1 if h < 8 or h >= 20 else 6 for h in hours]

        requests = []
        for i in range(n_requests):
            day = first + timedelta(seconds=rng.randrange(seconds))
            created = day.replace(hour=rng.choices(hours, hour_weights)[0]).astimezone(UTC)
            patient = patients[rng.randrange(PATIENTS)]
            status = rng.choices(statuses, weights)[0]
            requests.append(
                Request(
                    reference=f"BEN-{i:07d}",
                    patient=patient,
                    channel=rng.choices(list(Channel.values), [85, 12, 3])[0],
                    motif=None if rng.random() < 0.35 else rng.choice(motifs),
                    status=status,
                    sas=sas,
                    cpts=cpts_of_commune[patient.commune_id],
                    created_at=created,
                )
            )
        requests = Request.objects.bulk_create(requests, batch_size=BATCH)

        taken: set[tuple[int, datetime]] = set()

        def free_start(professional, start):
            # In UTC: wall-clock arithmetic would cross the DST gap wrongly.
            start = start.astimezone(UTC).replace(second=0, microsecond=0)
            while (professional.pk, start) in taken:
                start += timedelta(minutes=20)
            taken.add((professional.pk, start))
            return start

        slots, bookings = [], []
        for request in requests:
            if request.status in BOOKING_OF or (
                request.status == RequestStatus.CANCELLED and rng.random() < 0.5
            ):
                index = rng.randrange(PROFESSIONALS)
                professional, practice = professionals[index], practices[index]
                start = free_start(
                    professional, request.created_at + timedelta(minutes=rng.randrange(30, 72 * 60))
                )
                status = BOOKING_OF.get(request.status, BookingStatus.CANCELLED)
                slots.append(
                    Slot(
                        professional=professional,
                        practice=practice,
                        start=start,
                        end=start + timedelta(minutes=20),
                        # As booking_cancel leaves it: a cancelled booking's slot is free.
                        status=SlotStatus.FREE
                        if status == BookingStatus.CANCELLED
                        else SlotStatus.BOOKED,
                    )
                )
                bookings.append((request, status))
        for _ in range(int(len(bookings) * FREE_SLOTS_PER_BOOKING)):
            index = rng.randrange(PROFESSIONALS)
            day = first + timedelta(days=rng.randrange(365), hours=rng.randrange(8, 20))
            start = free_start(professionals[index], day)
            slots.append(
                Slot(
                    professional=professionals[index],
                    practice=practices[index],
                    start=start,
                    end=start + timedelta(minutes=20),
                    status=SlotStatus.BLOCKED if rng.random() < 0.05 else SlotStatus.FREE,
                )
            )
        slots = Slot.objects.bulk_create(slots, batch_size=BATCH)
        Booking.objects.bulk_create(
            (
                Booking(
                    request=request,
                    slot=slot,
                    channel="ui",
                    status=status,
                    created_at=request.created_at,
                )
                for (request, status), slot in zip(bookings, slots, strict=False)
            ),
            batch_size=BATCH,
        )
        return sas

    def _delete(self):
        sas = Sas.objects.filter(departement__code=DEP_CODE).first()
        if sas is None:
            return
        Booking.objects.filter(request__sas=sas).delete()
        Request.objects.filter(sas=sas).delete()
        Slot.objects.filter(practice__commune__departement__code=DEP_CODE).delete()
        Patient.objects.filter(commune__departement__code=DEP_CODE).delete()
        professionals = Professional.objects.filter(rpps__startswith="998")
        Practice.objects.filter(commune__departement__code=DEP_CODE).delete()
        professionals.delete()
        Cpts.objects.filter(sas=sas).delete()
        sas.delete()
        Commune.objects.filter(departement__code=DEP_CODE).delete()
        Departement.objects.filter(code=DEP_CODE).delete()
