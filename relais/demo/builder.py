"""The demo territory: real communes of Haute-Loire (43) and Essonne (91), fictitious
people. Deterministic (seeded) and idempotent: running it again adds only what is
missing (new days of slots), never duplicates.

Fictitious identifiers that cannot be mistaken for real ones:
- RPPS 999xxxxxxxx (real RPPS numbers start with 10);
- FINESS <dép>99xxxxx;
- phone numbers in the ranges ARCEP reserves for fiction (01 99 00 xx xx, 06 39 98 xx xx).
"""

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from django.db import transaction
from django.utils import timezone

from relais.accounts.models import Membership, Role, User
from relais.agenda.models import Modality, Slot, SlotStatus
from relais.directory.models import Practice, Profession, Professional
from relais.orientation.models import Booking, BookingChannel, BookingStatus
from relais.regulation.models import Channel, Motif, Patient, Request, RequestEvent, RequestStatus
from relais.territory.geo import distance_km
from relais.territory.models import Commune, Cpts, Departement, Sas
from relais.territory.services import communes_load

PARIS = ZoneInfo("Europe/Paris")
DEMO_PASSWORD = "relais-demo-2026"
SEED = 20261125


@dataclass(frozen=True)
class CptsSpec:
    name: str
    centre_insee: str
    radius_km: float
    phone: str


TERRITORIES = {
    "43": {
        "sas": "SAS de la Haute-Loire",
        "radius": 30,
        "professionals": 45,
        "cpts": [CptsSpec("CPTS Nord Velay Forez", "43137", 28, "01 99 00 43 10")],
    },
    "91": {
        "sas": "SAS de l'Essonne",
        "radius": 12,
        "professionals": 105,
        "cpts": [
            CptsSpec("CPTS Cœur Essonne", "91549", 40, "01 99 00 91 10"),
            CptsSpec("CPTS Nord Essonne", "91377", 40, "01 99 00 91 20"),
            CptsSpec("CPTS Val d'Yerres Val de Seine", "91691", 40, "01 99 00 91 30"),
            CptsSpec("CPTS Grand Évry", "91228", 40, "01 99 00 91 40"),
            CptsSpec("CPTS Sud Essonne", "91223", 40, "01 99 00 91 50"),
        ],
    },
}
CPTS_HOURS = {str(d): [["08:00", "18:00"]] for d in range(1, 6)} | {"6": [["08:00", "11:00"]]}

FIRST_NAMES = [
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Emma",
    "Inès",
    "Sarah",
    "Julie",
    "Claire",
    "Sophie",
    "Anne",
    "Marie",
    "Lucie",
    "Laura",
    "Pauline",
    "Hélène",
    "Nathalie",
    "Isabelle",
    "Céline",
    "Élodie",
    "Thomas",
    "Nicolas",
    "Julien",
    "Maxime",
    "Antoine",
    "Pierre",
    "Louis",
    "Hugo",
    "Lucas",
    "Paul",
    "Alexandre",
    "Mathieu",
    "Vincent",
    "Olivier",
    "François",
    "Philippe",
    "Benoît",
    "Karim",
    "Youssef",
    "Mehdi",
    "Samir",
    "Fatima",
    "Amina",
    "Nadia",
    "Yasmine",
    "Mamadou",
    "Aïssata",
    "Kevin",
    "Romain",
    "Damien",
    "Jérôme",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefebvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Payet",
    "Rolland",
    "Leclercq",
]
# Practice opening hours in the CPTS service-hours shape (Practice.opening_hours).
_WEEKDAYS_SPLIT = [["08:30", "12:30"], ["14:00", "19:00"]]
DEMO_OPENING_HOURS = [
    {**{str(d): _WEEKDAYS_SPLIT for d in range(1, 6)}, "6": [["09:00", "12:00"]]},
    {str(d): [["14:00", "18:00"]] for d in range(1, 6)},
    {**{str(d): [["09:00", "19:00"]] for d in (1, 2, 4, 5)}, "3": [["09:00", "12:00"]]},
]

STREETS = [
    "place de la Mairie",
    "rue de la République",
    "Grande Rue",
    "avenue de la Gare",
    "rue Victor-Hugo",
    "place de l'Église",
    "rue du Général-de-Gaulle",
    "rue Jean-Jaurès",
]
PROFESSION_MIX = [
    (Profession.MEDECIN, 0.72),
    (Profession.INFIRMIER, 0.09),
    (Profession.KINE, 0.07),
    (Profession.PHARMACIEN, 0.06),
    (Profession.SAGE_FEMME, 0.04),
    (Profession.DENTISTE, 0.02),
]
# SNP91 top motifs (seed 003), as CISP-2 codes with their counts; the rest of the
# usable motifs spread over the other codes.
MOTIF_WEIGHTS = {
    "A03": 436,
    "R05": 432,
    "R21": 313,
    "H01": 250,
    "D01": 137,
    "D10": 118,
    "L03": 114,
    "N01": 116,
    "S07": 104,
    "R74": 95,
}
OTHER_MOTIF_WEIGHT = 2115 - sum(MOTIF_WEIGHTS.values())


def _phone(rng: random.Random, mobile: bool) -> str:
    if mobile:
        return f"06 39 98 {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"
    return f"01 99 00 {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}"


class DemoBuilder:
    def __init__(self, *, today: date | None = None, days: int = 14, stdout=None):
        self.rng = random.Random(SEED)
        self.today = today or timezone.localdate()
        self.days = days
        self.log = stdout.write if stdout else (lambda *_: None)
        self.fr_holidays = holidays.France(years=range(self.today.year - 1, self.today.year + 2))

    # -- territory -------------------------------------------------------------------------
    def territory(self) -> dict[str, Sas]:
        count = communes_load()
        self.log(f"Communes chargées : {count}")
        sas_by_dep = {}
        for code, spec in TERRITORIES.items():
            dep = Departement.objects.get(code=code)
            if dep.default_radius_km != spec["radius"]:
                dep.default_radius_km = spec["radius"]
                dep.save(update_fields=["default_radius_km"])
            sas, _ = Sas.objects.get_or_create(departement=dep, defaults={"name": spec["sas"]})
            sas_by_dep[code] = sas
            centres = []
            for i, c in enumerate(spec["cpts"], start=1):
                cpts, _ = Cpts.objects.get_or_create(
                    name=c.name,
                    defaults={
                        "finess": f"{code}99{i:05d}",
                        "sas": sas,
                        "phone": c.phone,
                        "service_hours": CPTS_HOURS,
                    },
                )
                centres.append((cpts, Commune.objects.get(insee=c.centre_insee), c.radius_km))
            # Each commune of the département goes to the nearest CPTS within its radius.
            for commune in Commune.objects.filter(departement=dep, latitude__isnull=False):
                best = min(
                    centres,
                    key=lambda t: distance_km(
                        commune.latitude, commune.longitude, t[1].latitude, t[1].longitude
                    ),
                )
                cpts, centre, radius = best
                d = distance_km(
                    commune.latitude, commune.longitude, centre.latitude, centre.longitude
                )
                if d <= radius:
                    cpts.communes.add(commune)
        return sas_by_dep

    # -- directory -------------------------------------------------------------------------
    def professionals(self) -> list[Professional]:
        if Professional.objects.filter(rpps__startswith="999").exists():
            return list(Professional.objects.filter(rpps__startswith="999").order_by("rpps"))
        pros: list[Professional] = []
        index = 0
        for code, spec in TERRITORIES.items():
            communes = list(
                Commune.objects.filter(departement__code=code, cpts_set__isnull=False)
                .exclude(population__isnull=True)
                .order_by("insee")
            )
            weights = [max(c.population or 0, 50) ** 0.8 for c in communes]
            practices: list[Practice] = []
            for _ in range(spec["professionals"]):
                index += 1
                profession = self.rng.choices(
                    [p for p, _ in PROFESSION_MIX], [w for _, w in PROFESSION_MIX]
                )[0]
                # Doctors often share a maison de santé: reuse a recent practice 35 % of the time.
                if practices and profession == Profession.MEDECIN and self.rng.random() < 0.35:
                    practice = self.rng.choice(practices[-6:])
                else:
                    commune = self.rng.choices(communes, weights)[0]
                    kind = {
                        Profession.PHARMACIEN: "Pharmacie",
                        Profession.MEDECIN: self.rng.choice(
                            ["Cabinet médical", "Maison de santé", "Centre de santé"]
                        ),
                    }.get(profession, "Cabinet")
                    practice = Practice.objects.create(
                        name=f"{kind} {commune.name}",
                        address=f"{self.rng.randint(1, 60)} {self.rng.choice(STREETS)}",
                        commune=commune,
                        latitude=commune.latitude,
                        longitude=commune.longitude,
                        phone=_phone(self.rng, mobile=False),
                        # One practice in four has its own opening hours (issue 18, item 5);
                        # the others keep the default (no random draw: the demo stays the same).
                        opening_hours=DEMO_OPENING_HOURS[len(practices) // 4 % 3]
                        if len(practices) % 4 == 0
                        else {},
                    )
                    practices.append(practice)
                is_gp = profession == Profession.MEDECIN
                sas_participant = is_gp and self.rng.random() < 0.6
                level2_only = is_gp and not sas_participant and self.rng.random() < 0.15
                pro = Professional.objects.create(
                    rpps=f"999{index:08d}",
                    profession=profession,
                    specialty="SM54" if is_gp else "",
                    first_name=self.rng.choice(FIRST_NAMES),
                    last_name=self.rng.choice(LAST_NAMES),
                    phone=_phone(self.rng, mobile=True),
                    email=f"pro{index:03d}@demo.relais.invalid",
                    cpts=practice.commune.cpts_set.first(),
                    sas_participant=sas_participant,
                    cpts_level2=level2_only or (is_gp and self.rng.random() < 0.3),
                    level2_only=level2_only,
                    accepts_surnumeraire=sas_participant or self.rng.random() < 0.1,
                )
                practice.professionals.add(pro)
                pros.append(pro)
        self.log(f"Professionnels : {len(pros)}")
        return pros

    # -- agenda ----------------------------------------------------------------------------
    def _local(self, day: date, hour: int, minute: int) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=PARIS)

    def future_slots(self, pros: list[Professional]) -> int:
        """SNP slots over the next days: weekdays 8h–20h, some on Saturday morning."""
        rng = random.Random(f"{SEED}-{self.today.isoformat()}")
        now = timezone.now()
        slots = []
        for pro in pros:
            if pro.level2_only:
                continue
            practice = pro.practices.first()
            per_day = 3 if pro.profession == Profession.MEDECIN else 1
            saturday = rng.random() < 0.4
            for offset in range(self.days):
                day = self.today + timedelta(days=offset)
                if day in self.fr_holidays or day.weekday() == 6:
                    continue
                if day.weekday() == 5 and not saturday:
                    continue
                last_hour = 11 if day.weekday() == 5 else 19
                hours = sorted(rng.sample(range(8, last_hour + 1), k=min(per_day, last_hour - 7)))
                for hour in hours:
                    start = self._local(day, hour, rng.choice([0, 20, 40]))
                    if start <= now:
                        continue
                    roll = rng.random()
                    modality = (
                        Modality.TELECONSULTATION
                        if roll < 0.1
                        else Modality.VISITE
                        if roll < 0.14 and pro.profession == Profession.MEDECIN
                        else Modality.CABINET
                    )
                    slots.append(
                        Slot(
                            professional=pro,
                            practice=practice,
                            start=start,
                            end=start + timedelta(minutes=20),
                            modality=modality,
                        )
                    )
        Slot.objects.bulk_create(slots, ignore_conflicts=True, batch_size=2000)
        return len(slots)

    # -- regulation history ----------------------------------------------------------------
    def history(self, sas_by_dep: dict[str, Sas], pros: list[Professional], weeks: int = 4) -> int:
        if Request.objects.filter(reference__contains="-D0").exists():
            return 0
        rng = random.Random(f"{SEED}-history")
        motifs = {m.code: m for m in Motif.objects.all()}
        other_codes = [c for c, m in motifs.items() if c not in MOTIF_WEIGHTS and not m.refer_to_15]
        gps = [p for p in pros if p.profession == Profession.MEDECIN]
        gps_by_dep: dict[str, list[Professional]] = {}
        for gp in gps:
            dep = gp.practices.first().commune.departement.code
            gps_by_dep.setdefault(dep, []).append(gp)
        communes_by_dep = {
            code: list(Commune.objects.filter(departement__code=code, cpts_set__isnull=False))
            for code in TERRITORIES
        }
        n = 0
        start_day = self.today - timedelta(weeks=weeks)
        day = start_day
        while day < self.today:
            for code in TERRITORIES:
                daily = (6 if code == "91" else 2) + rng.randint(-1, 2)
                if day.weekday() == 6:
                    daily //= 2
                for _ in range(max(daily, 0)):
                    n += 1
                    self._past_request(
                        rng,
                        n,
                        day,
                        code,
                        sas_by_dep[code],
                        motifs,
                        other_codes,
                        gps_by_dep.get(code, []),
                        communes_by_dep[code],
                    )
            day += timedelta(days=1)
        # A few fresh requests waiting in the worklist.
        for code, count in (("91", 4), ("43", 2)):
            for _ in range(count):
                n += 1
                self._open_request(
                    rng, n, code, motifs, gps_by_dep.get(code, []), communes_by_dep[code]
                )
        self.log(f"Demandes de démonstration : {n}")
        return n

    def _patient(self, rng, communes, gps) -> Patient:
        commune = rng.choice(communes)
        age_days = rng.randint(200, 90 * 365)
        return Patient.objects.create(
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            birth_date=self.today - timedelta(days=age_days),
            phone=_phone(rng, mobile=True),
            commune=commune,
            medecin_traitant=rng.choice(gps) if gps and rng.random() < 0.6 else None,
            sas=commune.departement.sas,  # the territory whose teams took the call
        )

    def _pick_motif(self, rng, motifs, other_codes):
        codes = [*MOTIF_WEIGHTS, "__other__"]
        code = rng.choices(codes, [*MOTIF_WEIGHTS.values(), OTHER_MOTIF_WEIGHT])[0]
        if code == "__other__":
            code = rng.choice(other_codes)
        return motifs[code]

    def _open_request(self, rng, n, code, motifs, gps, communes):
        patient = self._patient(rng, communes, gps)
        created = timezone.now() - timedelta(minutes=rng.randint(2, 50))
        req = Request.objects.create(
            reference=f"{code}-D{n:05d}",
            patient=patient,
            callback_phone=patient.phone,
            channel=Channel.PHONE if rng.random() < 0.88 else Channel.WEB,
            motif=self._pick_motif(rng, motifs, [c for c in motifs if c in MOTIF_WEIGHTS]),
            urgency=rng.choice(["4-8h", "8-12h", "12-24h", "12-24h", "24-48h"]),
            sas=Sas.objects.get(departement__code=code),
            cpts=patient.commune.cpts_set.first(),
            created_at=created,
        )
        RequestEvent.objects.create(
            request=req, at=created, to_status=req.status, note="Demande créée"
        )

    def _past_request(self, rng, n, day, code, sas, motifs, other_codes, gps, communes):
        patient = self._patient(rng, communes, gps)
        created = self._local(day, rng.randint(8, 19), rng.randint(0, 59))
        channel = Channel.PHONE if rng.random() < 0.88 else Channel.WEB
        motif = self._pick_motif(rng, motifs, other_codes)
        red = rng.random() < 0.012
        if red:
            motif = motifs[rng.choice(["A11", "R02"])]
        req = Request.objects.create(
            reference=f"{code}-D{n:05d}",
            patient=patient,
            callback_phone=patient.phone,
            channel=channel,
            motif=motif,
            urgency=rng.choice(["4-8h", "8-12h", "12-24h", "12-24h", "24-48h"]),
            sas=sas,
            cpts=patient.commune.cpts_set.first(),
            created_at=created,
        )
        events = [RequestEvent(request=req, at=created, to_status="open", note="Demande créée")]
        closed = created + timedelta(minutes=rng.randint(5, 40))
        roll = rng.random()
        if red:
            final, note = RequestStatus.REDIRECTED, "Signe de gravité : transfert au 15"
        elif roll < 0.12:
            final, note = RequestStatus.ADVICE, "Conseil médical donné"
        elif roll < 0.22 or not gps:
            final, note = RequestStatus.UNPLACED, "Aucun créneau dans le délai"
        else:
            gp = (
                patient.medecin_traitant
                if patient.medecin_traitant and rng.random() < 0.3
                else rng.choice(gps)
            )
            start = created + timedelta(hours=rng.randint(2, 30))
            start = start.replace(minute=rng.choice([0, 20, 40]), second=0, microsecond=0)
            # A start within the published horizon may already be one of the doctor's
            # materialised slots (or an earlier history slot): take the next free time.
            while Slot.objects.filter(professional=gp, start=start).exists():
                start += timedelta(minutes=20)
            slot = Slot.objects.create(
                professional=gp,
                practice=gp.practices.first(),
                start=start,
                end=start + timedelta(minutes=20),
                status=SlotStatus.BOOKED,
            )
            outcome = BookingStatus.NOSHOW if rng.random() < 0.07 else BookingStatus.FULFILLED
            if start > timezone.now():
                outcome = BookingStatus.BOOKED
            Booking.objects.create(
                request=req,
                slot=slot,
                channel=BookingChannel.UI,
                status=outcome,
                created_at=closed,
                status_changed_at=closed,
            )
            events.append(
                RequestEvent(
                    request=req,
                    at=closed,
                    from_status="open",
                    to_status="booked",
                    note=f"Rendez-vous avec {gp.display_name}",
                )
            )
            final = {
                BookingStatus.FULFILLED: RequestStatus.DONE,
                BookingStatus.NOSHOW: RequestStatus.NOSHOW,
                BookingStatus.BOOKED: RequestStatus.BOOKED,
            }[outcome]
            note = BookingStatus(outcome).label
            closed = start + timedelta(minutes=20)
        if final != RequestStatus.BOOKED:
            events.append(
                RequestEvent(
                    request=req,
                    at=closed,
                    from_status=events[-1].to_status,
                    to_status=final,
                    note=note,
                )
            )
        RequestEvent.objects.bulk_create(events)
        Request.objects.filter(pk=req.pk).update(
            status=final,
            updated_at=closed,
            closed_at=None if final == RequestStatus.BOOKED else closed,
            closing_reason="" if final == RequestStatus.BOOKED else note,
        )

    # -- accounts --------------------------------------------------------------------------
    def accounts(
        self, sas_by_dep: dict[str, Sas], pros: list[Professional]
    ) -> list[tuple[str, str]]:
        sas91, sas43 = sas_by_dep["91"], sas_by_dep["43"]
        coeur = Cpts.objects.get(name="CPTS Cœur Essonne")
        existing = Professional.objects.filter(user__username="medecin").first()
        doctor = existing or next(
            p
            for p in sorted(pros, key=lambda p: p.rpps)
            if p.profession == Profession.MEDECIN and p.sas_participant and p.cpts_id == coeur.pk
        )
        specs = [
            (
                "operateur",
                "Opérateur SNP",
                "Océane",
                "Opératrice",
                [(Role.OPERATEUR, sas91, None), (Role.OPERATEUR, sas43, None)],
            ),
            ("arm", "ARM", "Arnaud", "Assistant", [(Role.ARM, sas91, None)]),
            (
                "regulateur",
                "Médecin régulateur",
                "Régis",
                "Régulateur",
                [(Role.REGULATEUR, sas91, None)],
            ),
            (
                "medecin",
                f"Effecteur ({doctor.display_name})",
                doctor.first_name,
                doctor.last_name,
                [(Role.EFFECTEUR, None, coeur)],
            ),
            (
                "coordinateur",
                "Coordinatrice CPTS Cœur Essonne",
                "Coralie",
                "Coordinatrice",
                [(Role.COORDINATEUR, None, coeur)],
            ),
            (
                "admin",
                "Administrateur",
                "Adèle",
                "Admin",
                [(Role.ADMIN, sas91, None), (Role.ADMIN, sas43, None)],
            ),
        ]
        # Referrers (issue 17): a pharmacist, a nurse and a physio of the CPTS who refer the
        # patient in front of them and follow their referrals (role adresseur, nothing else).
        referrers = {}
        for username, profession, label in (
            ("pharmacien", Profession.PHARMACIEN, "Pharmacien·ne, adresse des patients"),
            ("infirmier", Profession.INFIRMIER, "Infirmier·e, adresse des patients"),
            ("kine", Profession.KINE, "Kinésithérapeute, adresse des patients"),
        ):
            linked = Professional.objects.filter(user__username=username).first()
            candidates = sorted(
                (p for p in pros if p.profession == profession and p.user_id is None),
                key=lambda p: (p.cpts_id != coeur.pk, p.rpps),
            )
            pro = linked or (candidates[0] if candidates else None)
            if pro is None:
                continue
            referrers[username] = pro
            specs.append(
                (username, f"{label} ({pro.display_name})", pro.first_name, pro.last_name,
                 [(Role.ADRESSEUR, None, pro.cpts or coeur)])
            )  # fmt: skip
        logins = []
        for username, label, first, last, roles in specs:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@demo.relais.invalid",
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            for role, sas, cpts in roles:
                Membership.objects.get_or_create(user=user, role=role, sas=sas, cpts=cpts)
            logins.append((username, label))
        if doctor.user_id is None:
            doctor.user = User.objects.get(username="medecin")
            doctor.save(update_fields=["user"])
        for username, pro in referrers.items():
            if pro.user_id is None:
                pro.user = User.objects.get(username=username)
                pro.save(update_fields=["user"])
        return logins


def build_demo(*, stdout=None, days: int = 14) -> list[tuple[str, str]]:
    builder = DemoBuilder(stdout=stdout, days=days)
    with transaction.atomic():
        sas_by_dep = builder.territory()
        pros = builder.professionals()
        n_slots = builder.future_slots(pros)
        builder.log(f"Créneaux SNP à venir proposés : {n_slots}")
        builder.history(sas_by_dep, pros)
        return builder.accounts(sas_by_dep, pros)
