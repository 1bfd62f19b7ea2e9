"""The smaller findings of issue 14 (item 12): 403 log lines, the FHIR rate limit from the
environment, the channel of API surnuméraires, the follow page read audited."""

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from relais.audit.models import ActorType, AuditEvent
from relais.orientation.models import Booking, BookingChannel
from relais.regulation.tokens import follow_token
from tests import factories as f
from tests.interop.conftest import bearer, make_token

pytestmark = pytest.mark.django_db


def test_it_logs_a_403_as_one_line_without_traceback(client, nobody, caplog):
    client.force_login(nobody)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("audit:events")).status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    for record in records:  # through the configured handlers (the filter ran on them)
        assert record.exc_info is None
        line = formatter.format(record)
        assert "Traceback" not in line and "\n" not in line, line
        assert line == "WARNING django.request Forbidden (Permission denied): /journal-audit/"


def test_it_drops_the_stack_of_a_permission_denied_record():
    from django.core.exceptions import PermissionDenied

    from relais.core.forbidden_log import ForbiddenWithoutTraceback

    try:
        raise PermissionDenied("hors territoire")
    except PermissionDenied:
        record = logging.LogRecord(
            "django.request", logging.WARNING, "x", 1, "Forbidden", (), sys.exc_info()
        )
    record.status_code = 403
    assert ForbiddenWithoutTraceback().filter(record)
    assert record.exc_info is None


def test_it_installs_the_403_filter_on_every_log_handler():
    from django.conf import settings

    for handler in settings.LOGGING["handlers"].values():
        assert "forbidden_one_line" in handler["filters"]


def test_it_keeps_the_traceback_of_a_500():
    from relais.core.forbidden_log import ForbiddenWithoutTraceback

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, "x", 1, "Internal Server Error", (), sys.exc_info()
        )
    record.status_code = 500
    ForbiddenWithoutTraceback().filter(record)
    assert record.exc_info is not None


def test_it_reads_the_fhir_rate_limit_from_the_environment():
    env = os.environ | {"RELAIS_FHIR_RATE_LIMIT": "7", "DJANGO_SETTINGS_MODULE": "relais.settings"}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "from relais.interop import views; "
            "print(settings.RELAIS_FHIR_RATE_LIMIT, views.RATE_LIMIT_PER_MINUTE)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["7", "7"]


def test_it_records_an_api_surnumeraire_with_the_api_channel(client, cpts_a):
    token = make_token("requests:read,appointments:write")
    doctor = f.ProfessionalFactory(accepts_surnumeraire=True)
    req = f.RequestFactory()
    body = {
        "professional": str(doctor.public_id),
        "start": (timezone.now() + timedelta(hours=2)).isoformat(),
    }
    response = client.post(
        f"/api/v1/requests/{req.public_id}/surnumeraire",
        json.dumps(body),
        content_type="application/json",
        **bearer(token),
    )
    assert response.status_code == 201, response.content
    assert Booking.objects.get().channel == BookingChannel.API


def test_it_audits_the_patients_follow_page_reads(client, cpts_a):
    req = f.RequestFactory()
    client.get(reverse("regulation:follow", args=[follow_token(req)]))
    event = AuditEvent.objects.get(action="read", object_id=str(req.public_id))
    assert (event.actor_type, event.actor_label, event.user) == (
        ActorType.PATIENT_LINK,
        "lien de suivi",
        None,
    )
    client.get(reverse("regulation:follow", args=["bidon"]))
    assert AuditEvent.objects.filter(action="read").count() == 1
