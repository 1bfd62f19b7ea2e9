"""The named cast of the tests (see CONTRIBUTING.md):

- olivia, opératrice SNP of the Essonne SAS;
- regis, médecin régulateur of the Essonne SAS;
- dr_alice, a GP of CPTS A (Évry) with her own account;
- coralie, coordinatrice of CPTS B (Étampes);
- oscar, opérateur of the Haute-Loire SAS (another territory);
- nobody, an authenticated user with no role.
"""

import os

import pytest
from hypothesis import settings as hypothesis_settings

from relais.accounts.models import Role
from tests import factories as f

# Playwright's sync API runs an event loop in the test thread; Django then refuses
# ORM calls from "async" context unless told this is safe (it is: one thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Property tests check invariants, not speed: no per-example deadline (a loaded CI
# machine would turn it into flaky failures). Speed is measured by benchmarks.
hypothesis_settings.register_profile("relais", deadline=None)
hypothesis_settings.load_profile("relais")


@pytest.fixture(autouse=True)
def _isolated_outbox(settings, tmp_path):
    settings.RELAIS_SMS_BACKEND = "file"
    settings.RELAIS_SMS_FILE_PATH = str(tmp_path / "sms")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests (browser, races) end with a flush that also empties the
    reference data the migrations load (CISP-2 motifs): put it back for any test
    that uses the database."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    transactional = marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    request.getfixturevalue("transactional_db" if transactional else "db")
    from relais.regulation.models import Motif
    from relais.regulation.services import motifs_load

    if not Motif.objects.exists():
        motifs_load()


@pytest.fixture
def sas91(db):
    return f.sas("91")


@pytest.fixture
def sas43(db):
    return f.sas("43")


@pytest.fixture
def cpts_a(sas91):
    cpts = f.CptsFactory(name="CPTS A (Évry)", sas=sas91)
    cpts.communes.add(f.commune("91228"), f.commune("91174"), f.commune("91549"))
    return cpts


@pytest.fixture
def cpts_b(sas91):
    cpts = f.CptsFactory(name="CPTS B (Étampes)", sas=sas91)
    cpts.communes.add(f.commune("91223"))
    return cpts


@pytest.fixture
def olivia(sas91, cpts_a):
    return f.member(f.UserFactory(username="olivia"), Role.OPERATEUR, sas_obj=sas91)


@pytest.fixture
def regis(sas91):
    return f.member(f.UserFactory(username="regis"), Role.REGULATEUR, sas_obj=sas91)


@pytest.fixture
def dr_alice(cpts_a):
    user = f.member(f.UserFactory(username="alice"), Role.EFFECTEUR, cpts=cpts_a)
    return f.ProfessionalFactory(last_name="Alice", user=user, cpts=cpts_a, practice_in="91228")


@pytest.fixture
def coralie(cpts_b):
    return f.member(f.UserFactory(username="coralie"), Role.COORDINATEUR, cpts=cpts_b)


@pytest.fixture
def oscar(sas43):
    return f.member(f.UserFactory(username="oscar"), Role.OPERATEUR, sas_obj=sas43)


@pytest.fixture
def nobody(db):
    return f.UserFactory(username="nobody")


@pytest.fixture
def snp_request(cpts_a):
    return f.RequestFactory()


def login(client, user):
    client.force_login(user)
    return client
