"""Factories for the tests. Communes are real ones (coordinates from the INSEE/La Poste
file), created on demand so that most tests do not load the whole file."""

from datetime import timedelta

import factory
from django.utils import timezone

from relais.accounts.models import Membership, Role, User
from relais.agenda.models import Slot
from relais.directory.models import Practice, Profession, Professional
from relais.regulation.models import Channel, Patient, Request
from relais.territory.geo import search_key
from relais.territory.models import Commune, Cpts, Departement, Sas

# (insee, name, postal code, département, latitude, longitude, population) — real rows.
REAL_COMMUNES = {
    "91228": ("Évry-Courcouronnes", "91000;91080", "91", 48.628697, 2.431328, 66919),
    "91174": ("Corbeil-Essonnes", "91100", "91", 48.59732, 2.464555, 54471),
    "91549": ("Sainte-Geneviève-des-Bois", "91700", "91", 48.642987, 2.327166, 35438),
    "91223": ("Étampes", "91150", "91", 48.422736, 2.152437, 26857),
    "91377": ("Massy", "91300", "91", 48.726331, 2.269579, 51729),
    "43157": ("Le Puy-en-Velay", "43000", "43", 45.028267, 3.897318, 18540),
    "43137": ("Monistrol-sur-Loire", "43120", "43", 45.285727, 4.185624, 8823),
}
DEPARTEMENTS = {"91": ("Essonne", 12), "43": ("Haute-Loire", 30)}


def departement(code: str) -> Departement:
    name, radius = DEPARTEMENTS[code]
    dep, _ = Departement.objects.get_or_create(
        code=code, defaults={"name": name, "default_radius_km": radius}
    )
    return dep


def commune(insee: str) -> Commune:
    name, postal, dep, lat, lon, pop = REAL_COMMUNES[insee]
    obj, _ = Commune.objects.get_or_create(
        insee=insee,
        defaults={
            "name": name,
            "search_name": search_key(name),
            "postal_codes": postal,
            "departement": departement(dep),
            "latitude": lat,
            "longitude": lon,
            "population": pop,
        },
    )
    return obj


def sas(code: str) -> Sas:
    obj, _ = Sas.objects.get_or_create(
        departement=departement(code), defaults={"name": f"SAS {DEPARTEMENTS[code][0]}"}
    )
    return obj


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    password = factory.django.Password("un-mot-de-passe-solide")


def member(user: User, role: str, *, sas_obj=None, cpts=None) -> User:
    Membership.objects.get_or_create(user=user, role=role, sas=sas_obj, cpts=cpts)
    return user


class CptsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cpts

    name = factory.Sequence(lambda n: f"CPTS Test {n}")
    finess = factory.Sequence(lambda n: f"9199{n:05d}")
    sas = factory.LazyFunction(lambda: sas("91"))


class ProfessionalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Professional
        skip_postgeneration_save = True

    rpps = factory.Sequence(lambda n: f"999{n:08d}")
    profession = Profession.MEDECIN
    specialty = "SM54"
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Docteur{n}")
    phone = "0639980000"
    sas_participant = True

    @factory.post_generation
    def practice_in(self, create, extracted, **kwargs):
        where = commune(extracted or "91228")
        practice = Practice.objects.create(
            name=f"Cabinet {self.last_name}",
            address="1 place de la Mairie",
            commune=where,
            latitude=where.latitude,
            longitude=where.longitude,
            phone="0199000000",
        )
        practice.professionals.add(self)


class SlotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Slot

    professional = factory.SubFactory(ProfessionalFactory)
    practice = factory.LazyAttribute(lambda o: o.professional.practices.first())
    start = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=3))
    end = factory.LazyAttribute(lambda o: o.start + timedelta(minutes=20))


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    first_name = "Lucie"
    last_name = factory.Sequence(lambda n: f"Patiente{n}")
    phone = "0639981234"
    email = "lucie@example.invalid"
    commune = factory.LazyFunction(lambda: commune("91228"))
    # The territory owning the record: its commune's SAS (None when none is configured).
    sas = factory.LazyAttribute(lambda o: getattr(o.commune.departement, "sas", None))


class RequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Request

    reference = factory.Sequence(lambda n: f"91-T{n:05d}")
    patient = factory.SubFactory(PatientFactory)
    callback_phone = factory.LazyAttribute(lambda o: o.patient.phone)
    callback_email = factory.LazyAttribute(lambda o: o.patient.email)
    channel = Channel.PHONE
    motif_text = "fièvre depuis hier"
    urgency = "12-24h"
    sas = factory.LazyAttribute(lambda o: o.patient.commune.departement.sas)
    cpts = factory.LazyAttribute(lambda o: o.patient.commune.cpts_set.first())


__all__ = ["Role", "member"]
