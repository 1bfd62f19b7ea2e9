"""A national-scale dataset built from the real communes (`relais generate`).

Every département of the communes file gets its SAS and CPTS; professionals are spread
over the communes in proportion to their population; each publishes SNP slots over the
next days; one year of past requests (with patients, bookings, booked slots and events)
and a pool of open requests complete the picture. Everything derives from one seed (and
the current date: slots are relative to today).

Fictitious identifiers: RPPS 997xxxxxxxx, FINESS <dép>98xxxx, phones in the ARCEP fiction
ranges, e-mails under .invalid.
"""

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import holidays
from django.db import connection
from django.utils import timezone

from relais.agenda.models import Modality, Slot, SlotStatus
from relais.bench.writer import Table, next_id, sequences_reset
from relais.demo.builder import FIRST_NAMES, LAST_NAMES, MOTIF_WEIGHTS, PROFESSION_MIX, STREETS
from relais.directory.models import Practice, Profession, Professional
from relais.orientation.models import Booking, BookingStatus
from relais.regulation.models import Motif, Patient, Request, RequestEvent, RequestStatus
from relais.territory.geo import distance_km
from relais.territory.models import Commune, Cpts, Departement, Sas
from relais.territory.services import communes_load

PARIS = ZoneInfo("Europe/Paris")
RPPS_PREFIX = "997"
# Slots a professional publishes per working day, on average (2,000,000 future slots for
# 60,000 professionals over 14 days).
SLOTS_PER_DAY = 3.4
# Final status of a past request, with its weight (as bench_indicators, SNP91-like).
PAST_STATUSES = [
    (RequestStatus.DONE, 37),
    (RequestStatus.NOSHOW, 3),
    (RequestStatus.ADVICE, 15),
    (RequestStatus.REDIRECTED, 2),
    (RequestStatus.UNPLACED, 20),
    (RequestStatus.CANCELLED, 5),
]
URGENCIES = ["4-8h", "8-12h", "12-24h", "12-24h", "24-48h"]
CPTS_PER_INHABITANTS = 200_000
CHUNK = 50_000
# Tables the generator fills (reset empties them; CASCADE takes what refers to them).
GENERATED = [RequestEvent, Booking, Request, Patient, Slot, Practice, Professional, Cpts, Sas]


@dataclass
class Result:
    timings: list[tuple[str, float, int]] = field(default_factory=list)

    def count(self, label: str) -> int:
        return sum(n for name, _, n in self.timings if name == label)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _phone(rng: random.Random, mobile: bool) -> str:
    if mobile:
        return f"06 39 98 {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
    return f"01 99 00 {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"


def generated_exists() -> bool:
    return Professional.objects.filter(rpps__startswith=RPPS_PREFIX).exists()


def reset() -> None:
    """Empty the generated tables (PostgreSQL only: a throw-away benchmark database)."""
    tables = ", ".join(m._meta.db_table for m in GENERATED)
    through = Cpts.communes.through._meta.db_table
    practice_through = Practice.professionals.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}, {through}, {practice_through} CASCADE")


class Generator:
    def __init__(
        self,
        *,
        professionals: int,
        days: int,
        requests: int,
        seed: int,
        open_requests: int | None = None,
        departements: set[str] | None = None,
        slots_per_day: float = SLOTS_PER_DAY,
        log=print,
    ):
        self.n_professionals = professionals
        self.days = days
        self.n_requests = requests
        self.n_open = open_requests if open_requests is not None else max(50, requests // 20)
        self.departements = departements
        self.slots_per_day = slots_per_day
        self.rng = random.Random(seed)
        self.log = log
        self.now = timezone.now()
        self.today = timezone.localdate(self.now)
        self.result = Result()

    # -- orchestration ---------------------------------------------------------------------
    def run(self) -> Result:
        began = time.perf_counter()
        fast = self._fast_load_begin()
        try:
            self._step("communes", self.territory)
            self._step("cpts", self.cpts)
            self._step("professionals", self.professionals)
            self._step("patients", self.patients)
            self._step("past requests", self.past_requests)
            self._step("open requests", self.open_requests)
            self._step("future slots", self.future_slots)
        finally:
            self._fast_load_end(fast)
        sequences_reset(
            [
                Professional,
                Practice,
                Practice.professionals.through,
                Slot,
                Patient,
                Request,
                Booking,
                RequestEvent,
            ]
        )
        self._step("analyze", self.analyze)
        self.log(f"total: {time.perf_counter() - began:.1f} s")
        return self.result

    def _step(self, label, function):
        began = time.perf_counter()
        n = function() or 0
        elapsed = time.perf_counter() - began
        self.result.timings.append((label, elapsed, n))
        rate = f", {n / elapsed:,.0f} rows/s" if n and elapsed > 0 else ""
        self.log(f"{label:<16} {n:>10,} rows in {elapsed:7.1f} s{rate}")

    def _fast_load_begin(self) -> bool:
        """PostgreSQL: skip the foreign-key triggers while loading rows that are consistent
        by construction (needs a superuser; without it, the load is only slower)."""
        if connection.vendor != "postgresql":
            return False
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
            return True
        except Exception:  # noqa: BLE001 - not a superuser: keep the checks
            return False

    def _fast_load_end(self, fast: bool) -> None:
        if fast:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")

    def analyze(self) -> int:
        if connection.vendor == "postgresql":
            # VACUUM sets the visibility map (index-only scans); not possible in a transaction.
            verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            with connection.cursor() as cursor:
                for model in GENERATED:
                    cursor.execute(f"{verb} {model._meta.db_table}")
        return 0

    # -- territory -------------------------------------------------------------------------
    def territory(self) -> int:
        n = communes_load(departements=self.departements)
        communes = Commune.objects.filter(latitude__isnull=False, population__gt=0)
        if self.departements:
            communes = communes.filter(departement__code__in=self.departements)
        self.communes = list(
            communes.order_by("insee").values_list(
                "pk", "departement_id", "latitude", "longitude", "population", "name"
            )
        )
        self.weights = [c[4] for c in self.communes]
        deps = Departement.objects.filter(pk__in={c[1] for c in self.communes}).order_by("code")
        self.sas_of_dep = {}
        for dep in deps:
            sas, _ = Sas.objects.get_or_create(
                departement=dep, defaults={"name": f"SAS {dep.name}"}
            )
            self.sas_of_dep[dep.pk] = sas.pk
        self.dep_codes = {d.pk: d.code for d in deps}
        return n

    def cpts(self) -> int:
        """About one CPTS per 200,000 inhabitants of a département (at least one), centred
        on communes drawn by population; each commune goes to the nearest centre."""
        by_dep: dict[int, list[tuple]] = {}
        for c in self.communes:
            by_dep.setdefault(c[1], []).append(c)
        self.cpts_of_commune: dict[int, int] = {}
        links = []
        created = 0
        existing = {c.name: c for c in Cpts.objects.all()}
        for dep_id, communes in by_dep.items():
            population = sum(c[4] for c in communes)
            k = max(1, min(len(communes), round(population / CPTS_PER_INHABITANTS)))
            centres, pool = [], list(communes)
            for _ in range(k):
                pick = self.rng.choices(pool, [c[4] for c in pool])[0]
                pool.remove(pick)
                centres.append(pick)
            code = self.dep_codes[dep_id]
            ids = []
            for i, centre in enumerate(centres, start=1):
                name = f"CPTS {centre[5]} ({code}-{i})"
                cpts = existing.get(name) or Cpts.objects.create(
                    name=name,
                    finess=f"{code:0>3}98{i:04d}",
                    sas_id=self.sas_of_dep[dep_id],
                    phone=_phone(self.rng, mobile=False),
                )
                created += 1
                ids.append(cpts.pk)
            for c in communes:
                nearest = min(
                    range(len(centres)),
                    key=lambda j: distance_km(c[2], c[3], centres[j][2], centres[j][3]),
                )
                self.cpts_of_commune[c[0]] = ids[nearest]
                links.append(Cpts.communes.through(cpts_id=ids[nearest], commune_id=c[0]))
        Cpts.communes.through.objects.bulk_create(links, batch_size=5000, ignore_conflicts=True)
        return created

    # -- directory -------------------------------------------------------------------------
    def professionals(self) -> int:
        rng = self.rng
        chosen = rng.choices(self.communes, self.weights, k=self.n_professionals)
        pro_id, practice_id = next_id(Professional), next_id(Practice)
        pros, practices, links = [], [], []
        self.pros = []  # (id, practice_id, dep_id, is_gp, level2_only, saturday)
        recent: dict[int, list[int]] = {}  # commune -> practices opened there
        practice_of: dict[int, tuple] = {}
        professions = [p for p, _ in PROFESSION_MIX]
        profession_weights = [w for _, w in PROFESSION_MIX]
        for index, commune in enumerate(chosen):
            commune_id, dep_id, lat, lon = commune[0], commune[1], commune[2], commune[3]
            profession = rng.choices(professions, profession_weights)[0]
            is_gp = profession == Profession.MEDECIN
            here = recent.get(commune_id)
            if here and is_gp and rng.random() < 0.35:
                practice = rng.choice(here[-6:])
            else:
                practice = practice_id
                practice_id += 1
                kind = {
                    Profession.PHARMACIEN: "Pharmacie",
                    Profession.MEDECIN: rng.choice(
                        ["Cabinet médical", "Maison de santé", "Centre de santé"]
                    ),
                }.get(profession, "Cabinet")
                # A few hundred metres around the commune's centre.
                plat = lat + rng.uniform(-0.01, 0.01)
                plon = lon + rng.uniform(-0.014, 0.014)
                practices.append(
                    {
                        "id": practice,
                        "public_id": _uuid(rng),
                        "name": f"{kind} {commune[5]}"[:150],
                        "address": f"{rng.randint(1, 60)} {rng.choice(STREETS)}",
                        "commune_id": commune_id,
                        "latitude": plat,
                        "longitude": plon,
                        "phone": _phone(rng, mobile=False),
                    }
                )
                practice_of[practice] = (plat, plon)
                recent.setdefault(commune_id, []).append(practice)
            sas_participant = is_gp and rng.random() < 0.6
            level2_only = is_gp and not sas_participant and rng.random() < 0.15
            pros.append(
                {
                    "id": pro_id,
                    "public_id": _uuid(rng),
                    "rpps": f"{RPPS_PREFIX}{index + 1:08d}",
                    "profession": profession,
                    "specialty": "SM54" if is_gp else "",
                    "first_name": rng.choice(FIRST_NAMES),
                    "last_name": rng.choice(LAST_NAMES),
                    "phone": _phone(rng, mobile=True),
                    "email": f"pro{index + 1}@generated.relais.invalid",
                    "cpts_id": self.cpts_of_commune.get(commune_id),
                    "sas_participant": sas_participant,
                    "cpts_level2": level2_only or (is_gp and rng.random() < 0.3),
                    "level2_only": level2_only,
                    "accepts_surnumeraire": sas_participant or rng.random() < 0.1,
                    "declares_two_hours": sas_participant,
                    "active": True,
                }
            )
            links.append({"practice_id": practice, "professional_id": pro_id})
            self.pros.append((pro_id, practice, dep_id, is_gp, level2_only, rng.random() < 0.4))
            pro_id += 1
        Table(Professional).insert(pros)
        Table(Practice).insert(practices)
        through = Practice.professionals.through
        start = next_id(through)
        Table(through).insert({"id": start + i, **link} for i, link in enumerate(links))
        self.gps_by_dep: dict[int, list[tuple]] = {}
        for p in self.pros:
            if p[3]:
                self.gps_by_dep.setdefault(p[2], []).append(p)
        self.all_gps = [p for p in self.pros if p[3]] or self.pros
        self.gp_by_id = {p[0]: p for p in self.pros if p[3]}
        # Slots carry their practice's coordinates (agenda 0005); the database triggers that
        # copy them are skipped by the fast load (session_replication_role), so rows do.
        self.practice_of = practice_of
        return len(pros) + len(practices) + len(links)

    # -- patients and requests -------------------------------------------------------------
    def patients(self) -> int:
        rng = self.rng
        n = max(1, self.n_requests // 2) + self.n_open
        chosen = rng.choices(self.communes, self.weights, k=n)
        first = next_id(Patient)
        self.patient_rows = []  # (id, commune_id, dep_id, traitant)
        rows = []
        for i, commune in enumerate(chosen):
            gps = self.gps_by_dep.get(commune[1])
            traitant = rng.choice(gps)[0] if gps and rng.random() < 0.6 else None
            pid = first + i
            birth = self.today - timedelta(days=rng.randint(200, 90 * 365))
            rows.append(
                {
                    "id": pid,
                    "public_id": _uuid(rng),
                    "created_at": self.now,
                    "updated_at": self.now,
                    "first_name": rng.choice(FIRST_NAMES),
                    "last_name": rng.choice(LAST_NAMES),
                    "birth_date": birth,
                    "phone": _phone(rng, mobile=True),
                    "commune_id": commune[0],
                    "medecin_traitant_id": traitant,
                }
            )
            self.patient_rows.append((pid, commune[0], commune[1], traitant))
        Table(Patient).insert(rows)
        motifs = list(Motif.objects.filter(refer_to_15=False).values_list("pk", "code"))
        self.motif_ids = [m[0] for m in motifs] or [None]
        self.motif_weights = [MOTIF_WEIGHTS.get(m[1], 10) for m in motifs] or [1]
        return len(rows)

    def _request_row(self, rng, rid, patient, created, status, closed, reason) -> dict:
        return {
            "id": rid,
            "public_id": _uuid(rng),
            "created_at": created,
            "updated_at": closed or created,
            "reference": f"GEN-{rid:09d}",
            "patient_id": patient[0],
            "channel": "phone" if rng.random() < 0.88 else "web",
            "motif_id": None
            if rng.random() < 0.1
            else rng.choices(self.motif_ids, self.motif_weights)[0],
            "urgency": rng.choice(URGENCIES),
            "status": status,
            "sas_id": self.sas_of_dep[patient[2]],
            "cpts_id": self.cpts_of_commune.get(patient[1]),
            "closed_at": closed if status != RequestStatus.BOOKED else None,
            "closing_reason": reason,
        }

    def past_requests(self) -> int:
        """One year of closed requests; the seen ones with their booking and slot."""
        rng = self.rng
        statuses = [s for s, _ in PAST_STATUSES]
        status_weights = [w for _, w in PAST_STATUSES]
        hours = list(range(24))
        hour_weights = [1 if h < 8 or h >= 20 else 6 for h in hours]
        request_id, slot_id = next_id(Request), next_id(Slot)
        booking_id, event_id = next_id(Booking), next_id(RequestEvent)
        self.taken: set[int] = set()  # professional id << 32 | start in 20-minute steps
        patients = self.patient_rows[: max(1, self.n_requests // 2)]
        tables = {m: Table(m) for m in (Request, Slot, Booking, RequestEvent)}
        total = 0
        days0 = self.today - timedelta(days=365)
        for chunk_start in range(0, self.n_requests, CHUNK):
            rows = {m: [] for m in tables}
            for _ in range(min(CHUNK, self.n_requests - chunk_start)):
                patient = rng.choice(patients)
                day = days0 + timedelta(days=rng.randrange(365))
                created = datetime.combine(
                    day,
                    dtime(rng.choices(hours, hour_weights)[0], rng.randrange(60)),
                    tzinfo=PARIS,
                )
                if created >= self.now - timedelta(hours=1):
                    created = self.now - timedelta(hours=1, minutes=rng.randrange(600))
                status = rng.choices(statuses, status_weights)[0]
                closed = created + timedelta(minutes=rng.randint(5, 40))
                events = [(created, "", RequestStatus.OPEN, "Demande créée")]
                with_booking = status in (RequestStatus.DONE, RequestStatus.NOSHOW) or (
                    status == RequestStatus.CANCELLED and rng.random() < 0.5
                )
                reason = ""
                if with_booking:
                    gps = self.gps_by_dep.get(patient[2]) or self.all_gps
                    if patient[3] and rng.random() < 0.3:
                        pro = self.gp_by_id[patient[3]]
                    else:
                        pro = rng.choice(gps)
                    start = created + timedelta(hours=rng.randint(2, 30))
                    start = start.replace(minute=rng.choice([0, 20, 40]), second=0, microsecond=0)
                    step = int(start.timestamp()) // 1200
                    while (pro[0] << 32 | step) in self.taken:
                        step += 1
                    self.taken.add(pro[0] << 32 | step)
                    start = datetime.fromtimestamp(step * 1200, tz=PARIS)
                    if status == RequestStatus.CANCELLED:
                        booking_status = BookingStatus.CANCELLED
                    elif start > self.now:
                        status, booking_status = RequestStatus.BOOKED, BookingStatus.BOOKED
                    elif status == RequestStatus.NOSHOW:
                        booking_status = BookingStatus.NOSHOW
                    else:
                        booking_status = BookingStatus.FULFILLED
                    rows[Slot].append(
                        {
                            "id": slot_id,
                            "public_id": _uuid(rng),
                            "professional_id": pro[0],
                            "practice_id": pro[1],
                            "latitude": self.practice_of[pro[1]][0],
                            "longitude": self.practice_of[pro[1]][1],
                            "start": start,
                            "end": start + timedelta(minutes=20),
                            "status": SlotStatus.FREE
                            if booking_status == BookingStatus.CANCELLED
                            else SlotStatus.BOOKED,
                            "created_at": created,
                        }
                    )
                    rows[Booking].append(
                        {
                            "id": booking_id,
                            "public_id": _uuid(rng),
                            "request_id": request_id,
                            "slot_id": slot_id,
                            "channel": "ui",
                            "status": booking_status,
                            "created_at": closed,
                            "status_changed_at": closed,
                            "kind": "slot",
                        }
                    )
                    events.append((closed, RequestStatus.OPEN, RequestStatus.BOOKED, "Rendez-vous"))
                    slot_id += 1
                    booking_id += 1
                    if status != RequestStatus.BOOKED:
                        closed = start + timedelta(minutes=20)
                        reason = RequestStatus(status).label
                        events.append((closed, RequestStatus.BOOKED, status, reason))
                else:
                    if status == RequestStatus.DONE or status == RequestStatus.NOSHOW:
                        status = RequestStatus.UNPLACED
                    reason = RequestStatus(status).label
                    events.append((closed, RequestStatus.OPEN, status, reason))
                rows[Request].append(
                    self._request_row(rng, request_id, patient, created, status, closed, reason)
                )
                for at, before, after, note in events:
                    rows[RequestEvent].append(
                        {
                            "id": event_id,
                            "request_id": request_id,
                            "at": at,
                            "from_status": before,
                            "to_status": after,
                            "note": note,
                        }
                    )
                    event_id += 1
                request_id += 1
            for model in (Request, Slot, Booking, RequestEvent):
                total += tables[model].insert(rows[model])
        return total

    def open_requests(self) -> int:
        """Fresh requests waiting in the worklists (the benchmarks search and book for them)."""
        rng = self.rng
        request_id, event_id = next_id(Request), next_id(RequestEvent)
        requests, events = [], []
        for patient in self.patient_rows[max(1, self.n_requests // 2) :]:
            created = self.now - timedelta(minutes=rng.randint(2, 120))
            requests.append(
                self._request_row(rng, request_id, patient, created, RequestStatus.OPEN, None, "")
            )
            events.append(
                {
                    "id": event_id,
                    "request_id": request_id,
                    "at": created,
                    "to_status": RequestStatus.OPEN,
                    "note": "Demande créée",
                }
            )
            request_id += 1
            event_id += 1
        return Table(Request).insert(requests) + Table(RequestEvent).insert(events)

    # -- agenda ----------------------------------------------------------------------------
    def future_slots(self) -> int:
        """SNP slots over the next `days` days: weekdays 8h-20h, Saturday mornings for 40 %
        of the professionals; 20-minute slots at distinct times; 2 % closed."""
        rng = self.rng
        fr_holidays = holidays.France(years=range(self.today.year, self.today.year + 2))
        days = []
        for offset in range(self.days):
            day: date = self.today + timedelta(days=offset)
            if day in fr_holidays or day.weekday() == 6:
                continue
            last = 12 if day.weekday() == 5 else 20
            starts = [
                datetime.combine(day, dtime(h, m), tzinfo=PARIS)
                for h in range(8, last)
                for m in (0, 20, 40)
            ]
            days.append((day.weekday() == 5, starts))
        whole, fraction = int(self.slots_per_day), self.slots_per_day % 1
        slot_id = next_id(Slot)
        table = Table(Slot)
        twenty = timedelta(minutes=20)
        modalities = [Modality.CABINET] * 86 + [Modality.TELECONSULTATION] * 10
        total = 0
        batch = []
        for pro_id, practice_id, _dep, is_gp, level2_only, saturday in self.pros:
            if level2_only:
                continue
            for is_saturday, starts in days:
                if is_saturday and not saturday:
                    continue
                k = whole + (rng.random() < fraction)
                for start in rng.sample(starts, min(k, len(starts))):
                    if start <= self.now:
                        continue
                    if (pro_id << 32 | int(start.timestamp()) // 1200) in self.taken:
                        continue
                    modality = rng.choice(modalities) if is_gp else Modality.CABINET
                    if is_gp and rng.random() < 0.04:
                        modality = Modality.VISITE
                    batch.append(
                        {
                            "id": slot_id,
                            "public_id": _uuid(rng),
                            "professional_id": pro_id,
                            "practice_id": practice_id,
                            "latitude": self.practice_of[practice_id][0],
                            "longitude": self.practice_of[practice_id][1],
                            "start": start,
                            "end": start + twenty,
                            "modality": modality,
                            "status": SlotStatus.BLOCKED
                            if rng.random() < 0.02
                            else SlotStatus.FREE,
                            "created_at": self.now,
                        }
                    )
                    slot_id += 1
            if len(batch) >= CHUNK:
                total += table.insert(batch)
                batch = []
        total += table.insert(batch)
        return total
