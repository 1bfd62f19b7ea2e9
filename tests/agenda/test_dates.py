"""Dates that cannot break a page (issue 19, item 6): every date field and parameter is
bounded (2000-2100) and refused in French; the issue's extreme values answer 400, never
500; the error pages are French."""

import pytest
from django.test import Client
from django.urls import reverse

from relais.agenda.models import AvailabilityException
from tests.conftest import login

pytestmark = pytest.mark.django_db


def url(name, pro):
    return reverse(f"agenda:{name}", kwargs={"pro": pro.public_id})


@pytest.mark.parametrize("year", ["9999", "0001", "1999", "2101"])
def test_it_refuses_an_absence_out_of_bounds_in_french(client, dr_alice, year):
    login(client, dr_alice.user)
    response = client.post(
        url("absence_new", dr_alice),
        {"kind": "vacation", "first_day": f"{year}-12-09", "last_day": f"{year}-12-31"},
        follow=True,
    )
    assert response.status_code == 200
    assert "entre 2000 et 2100" in response.text
    assert not AvailabilityException.objects.exists()


def test_it_refuses_an_absence_ending_before_it_starts(client, dr_alice):
    login(client, dr_alice.user)
    response = client.post(
        url("absence_new", dr_alice),
        {"kind": "vacation", "first_day": "2026-12-10", "last_day": "2026-12-09"},
        follow=True,
    )
    assert "précède le premier" in response.text
    assert not AvailabilityException.objects.exists()


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "1999-12", "2101-01", "2026-13", "x"])
@pytest.mark.parametrize("fmt", ["", "csv", "pdf"])
def test_it_refuses_a_statement_month_out_of_bounds(client, dr_alice, month, fmt):
    login(client, dr_alice.user)
    response = client.get(url("statement", dr_alice), {"mois": month, "format": fmt})
    assert response.status_code == 400
    assert "Demande invalide" in response.text
    assert ("hors limites" in response.text) or ("Mois invalide" in response.text)


def test_it_shows_no_link_beyond_the_bounds(client, dr_alice):
    login(client, dr_alice.user)
    response = client.get(url("statement", dr_alice), {"mois": "2100-12"})
    assert response.status_code == 200
    assert "?mois=2101-01" not in response.text and "?mois=2100-11" in response.text


@pytest.mark.parametrize("month", ["9999-12", "0001-01"])
@pytest.mark.parametrize("path", ["/indicateurs/rapport-ars/", "/indicateurs/rapport-ars.pdf"])
def test_it_refuses_an_ars_report_month_out_of_bounds(client, regis, month, path):
    response = login(client, regis).get(path, {"mois": month})
    assert response.status_code == 400
    assert "Mois hors limites" in response.text


def test_it_answers_a_server_error_in_french(settings, dr_alice):
    """A crash shows the French page, not Django's "Server Error (500)"."""
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Erreur du serveur" in html and "Server Error" not in html


@pytest.mark.parametrize(
    ("template", "title"),
    [("400.html", "Demande invalide"), ("403_csrf.html", "Formulaire expiré")],
)
def test_it_has_french_error_templates(template, title):
    from django.template.loader import render_to_string

    assert title in render_to_string(template)


def test_it_answers_a_stale_form_in_french(dr_alice):
    client = Client(enforce_csrf_checks=True)
    login(client, dr_alice.user)
    response = client.post(url("absence_new", dr_alice), {})
    assert response.status_code == 403
    assert "Formulaire expiré" in response.text
