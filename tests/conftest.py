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
def _audit_actor_of_direct_calls(request):
    """Every audit row names its actor (relais.audit.context). A service called straight
    from a test, outside any door, acts as the system "test"; a request through the test
    client or a task run by the worker names its own actor, as in production (the ambient
    actor does not reach inside a request). Tests marked `audit_strict` run without it."""
    if request.node.get_closest_marker("audit_strict"):
        yield
        return
    from relais.audit.context import audit_actor

    with audit_actor(system="test"):
        yield


@pytest.fixture(autouse=True)
def _public_endpoint_limits(settings, tmp_path):
    """Abuse limits of the public endpoints (h5): the counters start empty in every test
    (they live in the cache), and the web form's proof-of-work is off unless a test turns
    it on (tests/regulation/test_web_abuse.py solves real challenges)."""
    from django.core.cache import cache

    cache.clear()
    settings.RELAIS_WEB_FORM_POW = False
    settings.RELAIS_BULK_DIR = tmp_path / "bulk"
    # A surnuméraire only within practice / SAS / PDSA hours (relais/orientation/
    # surnumeraire.py): off for the tests of other rules, which pick arbitrary hours
    # relative to the real clock; tests/console/test_surnumeraire_hours.py turns it on.
    settings.RELAIS_SURNUMERAIRE_HOURS_CHECK = False
    # The JSON API's short token cache (relais/accounts/api_auth.py) off: a test that
    # limits or revokes a client sees it at once; tests/accounts/test_api_auth_cache.py
    # turns it on.
    settings.RELAIS_API_AUTH_CACHE_SECONDS = 0


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


# --- no patient data in the logs (issue 14, item 9) ------------------------------------------
# Every log record of the session is kept (formatted, with its traceback), plus the access
# line production's gunicorn would write for each request of the test client
# (relais.core.logging.request_line). The exact names, phones, e-mails and motifs of every
# Patient and Request saved during the session are collected; at the end, a line holding
# one of them fails the session, listing the offending lines.

import logging as _logging  # noqa: E402
import re as _re  # noqa: E402

_LOG_LINES: list[str] = []
_PATIENT_VALUES: set[str] = set()


class _KeepEveryLine(_logging.Handler):
    def __init__(self):
        super().__init__(level=_logging.DEBUG)
        self.setFormatter(_logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record):
        import contextlib

        with contextlib.suppress(Exception):  # a broken record must not break the run
            _LOG_LINES.append(self.format(record))


def _collect_patient_values(sender, instance, **kwargs):
    fields = ("first_name", "last_name", "phone", "email", "motif_text")
    fields += ("callback_phone", "callback_email", "birth_name")
    for name in fields:
        value = getattr(instance, name, None)
        if isinstance(value, str) and len(value.strip()) >= 4:
            _PATIENT_VALUES.add(value.strip())


def _log_access_line(sender, environ=None, **kwargs):
    from relais.core.logging import request_line

    if environ is not None:
        _logging.getLogger("relais.access").info("%s", request_line(environ))


_HANDLER = _KeepEveryLine()


def _attach_log_handler():
    """On the root logger and every logger that does not propagate (django.server).
    Django's dictConfig replaces the root's handlers: checked again before each test."""
    loggers = [_logging.getLogger(), _logging.getLogger("django.server")]
    loggers += [
        logger
        for logger in list(_logging.root.manager.loggerDict.values())
        if isinstance(logger, _logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        if _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)
    _logging.getLogger("relais.access").setLevel(_logging.INFO)


@pytest.fixture(autouse=True)
def _logs_kept_for_the_patient_data_check():
    _attach_log_handler()


def pytest_sessionstart(session):
    from django.core.signals import request_started
    from django.db.models.signals import post_save

    from relais.regulation.models import Patient, Request

    _attach_log_handler()
    post_save.connect(_collect_patient_values, sender=Patient, weak=False)
    post_save.connect(_collect_patient_values, sender=Request, weak=False)
    request_started.connect(_log_access_line, weak=False)


def patient_data_in_logs(lines, values) -> list[str]:
    """The log lines holding one of the values (whole words, case-sensitive)."""
    if not values:
        return []
    pattern = _re.compile(
        r"(?<!\w)("
        + "|".join(_re.escape(v) for v in sorted(values, key=len, reverse=True))
        + r")(?!\w)"
    )
    return [line for line in lines if pattern.search(line)]


def pytest_sessionfinish(session, exitstatus):
    leaks = patient_data_in_logs(_LOG_LINES, _PATIENT_VALUES)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (
        f"patient data in logs: {len(leaks)} of {len(_LOG_LINES)} log lines hold one of "
        f"{len(_PATIENT_VALUES)} names/phones/e-mails/motifs of the session's patients"
    )
    if reporter is not None:
        reporter.write_line(summary)
        for line in leaks[:50]:
            reporter.write_line(f"  LEAK: {line[:300]}")
    if leaks:
        session.exitstatus = 1
