"""No health data in URLs or logs: the live search boxes go by POST, the access log and
Django's request logs never show a query string."""

import datetime
import logging

import pytest
from django.urls import reverse

from tests import factories as f

pytestmark = pytest.mark.django_db


# --- the search boxes go by POST -------------------------------------------------------------


def test_it_looks_patients_up_by_post_only(client, olivia, cpts_a):
    patient = f.PatientFactory(last_name="Quenouillère")
    f.RequestFactory(patient=patient)
    client.force_login(olivia)
    url = reverse("regulation:patient_lookup")
    assert client.get(url, {"last_name": "quenouill"}).status_code == 405
    response = client.post(url, {"last_name": "quenouill"})
    assert response.status_code == 200


def test_it_suggests_motifs_by_post_only(client, olivia):
    client.force_login(olivia)
    url = reverse("regulation:motif_suggest")
    assert client.get(url, {"motif_text": "douleur thoracique"}).status_code == 405
    response = client.post(url, {"motif_text": "douleur thoracique"})
    assert response.status_code == 200
    assert response.content.strip()


def test_the_intake_form_sends_names_and_motifs_by_htmx_post(client, olivia):
    client.force_login(olivia)
    page = client.get(reverse("regulation:request_new")).content.decode()
    assert "hx-get" not in page.split('id="id_last_name"', 1)[1].split(">", 1)[0]
    assert f'hx-post="{reverse("regulation:patient_lookup")}"' in page
    assert f'hx-post="{reverse("regulation:motif_suggest")}"' in page
    assert 'name="csrfmiddlewaretoken"' in page or "X-CSRFToken" in page


def test_the_api_suggests_motifs_from_a_json_body(client):
    from relais.accounts.services import api_client_create

    _, token = api_client_create(name="éditeur", scopes=["motifs:read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    posted = client.post(
        "/api/v1/motifs/suggest",
        {"q": "douleur thoracique", "limit": 3},
        content_type="application/json",
        **auth,
    )
    assert posted.status_code == 200
    body = posted.json()
    assert body["red_flag"] is True and len(body["suggestions"]) <= 3
    legacy = client.get("/api/v1/motifs/suggest", {"q": "douleur thoracique", "limit": 3}, **auth)
    assert legacy.json() == body  # kept for compatibility
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["paths"]["/api/v1/motifs/suggest"]["get"]["deprecated"] is True
    too_long = client.post(
        "/api/v1/motifs/suggest", {"q": "x" * 501}, content_type="application/json", **auth
    )
    assert too_long.status_code in (400, 422)
    assert "error" in too_long.json()


# --- the logs ----------------------------------------------------------------------------------


def test_the_gunicorn_access_log_strips_query_strings_on_every_route():
    from gunicorn.config import Config

    from relais.core.logging import GunicornLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", "%(r)s|%(U)s|%(q)s|%(f)s|%({raw_uri}e)s|%({referer}i)s")
    logger = GunicornLogger(cfg)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger.access_log.addHandler(Keep())

    class Response:
        status = "200 OK"
        sent = 12
        headers = []

    class Request:
        headers = [("REFERER", "https://relais.example/demandes/nouvelle/?last_name=Dupont")]

    for uri in ["/demandes/patients/?last_name=Dupont", "/api/v1/motifs/suggest?q=toux"]:
        environ = {
            "REQUEST_METHOD": "GET",
            "RAW_URI": uri,
            "PATH_INFO": uri.split("?")[0],
            "QUERY_STRING": uri.split("?")[1],
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_REFERER": "https://relais.example/demandes/nouvelle/?last_name=Dupont",
        }
        logger.access(Response(), Request(), environ, datetime.timedelta(milliseconds=5))
    assert len(records) == 2
    for line in records:
        assert "Dupont" not in line and "toux" not in line and "?" not in line
    assert records[0].startswith("GET /demandes/patients/ HTTP/1.1|/demandes/patients/||")


def test_the_deploy_configuration_uses_the_stripping_logger():
    import runpy
    from pathlib import Path

    conf = runpy.run_path(str(Path(__file__).parents[2] / "deploy" / "gunicorn.conf.py"))
    assert conf["logger_class"] == "relais.core.logging.GunicornLogger"
    assert "%(q)s" not in conf["access_log_format"] and "%(r)s" not in conf["access_log_format"]


def test_django_request_logs_name_the_path_without_the_query():
    from relais.core.logging import StripQueryStringFilter

    strip = StripQueryStringFilter()
    record = logging.LogRecord(
        "django.server", logging.INFO, "", 0, '"%s" %s', ("GET /x/?q=Dupont HTTP/1.1", 404), None
    )
    assert strip.filter(record) and record.getMessage() == '"GET /x/ HTTP/1.1" 404'
    from django.conf import settings

    assert "no_query_string" in settings.LOGGING["handlers"]["console"]["filters"]
    assert settings.LOGGING["loggers"]["django.server"]["handlers"] == ["console"]


def test_the_session_log_check_catches_a_patients_name_phone_or_motif(cpts_a):
    from relais.core.logging import request_line
    from tests.conftest import _PATIENT_VALUES, patient_data_in_logs

    patient = f.PatientFactory(last_name="Quenouillère-Test", phone="0611223344")
    request = f.RequestFactory(patient=patient, motif_text="douleur au genou gauche")
    assert {patient.last_name, patient.phone, request.motif_text} <= _PATIENT_VALUES
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/demandes/patients/?last_name=Quenouillère-Test",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    old_line = '"GET /demandes/patients/?last_name=Quenouillère-Test HTTP/1.1" 200'
    lines = [old_line, "sms to 0611223344 failed", "motif douleur au genou gauche"]
    assert patient_data_in_logs(lines, _PATIENT_VALUES) == lines
    assert patient_data_in_logs([request_line(environ)], _PATIENT_VALUES) == []
