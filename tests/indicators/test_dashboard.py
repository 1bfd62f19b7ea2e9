"""Dashboard, exports and ARS report: figures of known scenarios, formats, and scoping."""

import csv
import io
import re
from datetime import date

import pytest
import time_machine
from django.shortcuts import resolve_url
from openpyxl import load_workbook

from relais.indicators.selectors import (
    contract_compute,
    indicators_daily,
    indicators_heatmap,
    indicators_weekly,
    previous_period,
)
from tests import factories as f
from tests.conftest import login
from tests.indicators.scenarios import MARCH, build_snp91

pytestmark = pytest.mark.django_db

DASHBOARD = "/indicateurs/"
REPORT = "/indicateurs/rapport-ars/"
REPORT_PDF = "/indicateurs/rapport-ars.pdf"
PERIOD = {"debut": "2024-03-01", "fin": "2024-03-31"}


def export_url(table: str, fmt: str) -> str:
    return f"/indicateurs/export/{table}.{fmt}"


def read_csv(response) -> list[list[str]]:
    content = response.content.decode("utf-8")
    assert content.startswith("\ufeff")
    return list(csv.reader(io.StringIO(content[1:]), delimiter=";"))


# --- Selectors --------------------------------------------------------------------------


def test_it_counts_each_day_of_the_period(march, sas91):
    days = indicators_daily(**MARCH, sas_ids={sas91.pk})
    assert len(days) == 31
    assert days[0]["day"] == date(2024, 3, 1)
    by_day = {d["day"].day: d for d in days}
    assert by_day[10] == {
        "day": date(2024, 3, 10),
        "requests": 7,
        "done": 2,
        # Slots of r1 (12:00), r6 (15:00, its booking cancelled) and r7 (20:03).
        "slots_published": 3,
        "slots_used": 2,
    }
    assert by_day[11]["slots_published"] == by_day[11]["slots_used"] == 1  # r2, +30 h
    assert by_day[12]["slots_published"] == by_day[12]["slots_used"] == 1  # r3, +60 h
    assert by_day[31]["requests"] == 1  # 23:30 Paris, 21:30 UTC
    assert sum(d["requests"] for d in days) == 8
    assert sum(d["slots_published"] for d in days) == 5


def test_it_sums_days_into_iso_weeks(march, sas91):
    weeks = indicators_weekly(indicators_daily(**MARCH, sas_ids={sas91.pk}))
    assert [(w["week"], w["days"]) for w in weeks] == [
        (date(2024, 2, 26), 3),  # 1 March is a Friday
        (date(2024, 3, 4), 7),
        (date(2024, 3, 11), 7),
        (date(2024, 3, 18), 7),
        (date(2024, 3, 25), 7),
    ]
    assert [w["requests"] for w in weeks] == [0, 7, 0, 0, 1]
    assert [w["slots_used"] for w in weeks] == [0, 2, 2, 0, 0]


def test_it_maps_demand_and_supply_by_weekday_and_hour(march, sas91):
    grid = indicators_heatmap(**MARCH, sas_ids={sas91.pk})
    demand = {(d + 1, h): n for d, row in enumerate(grid["demand"]) for h, n in enumerate(row) if n}
    supply = {(d + 1, h): n for d, row in enumerate(grid["supply"]) for h, n in enumerate(row) if n}
    # 10 and 31 March 2024 are Sundays (ISO weekday 7); hours in Paris time.
    assert demand == {(7, 10): 7, (7, 23): 1}
    assert supply == {(7, 12): 1, (7, 15): 1, (7, 20): 1, (1, 16): 1, (2, 22): 1}


def test_it_computes_the_contract_indicators(march, sas91, cpts_a):
    contract = contract_compute(**MARCH, sas_ids={sas91.pk})
    assert contract == {
        "doctors_total": 4,  # gp, cancelled_gp, blocked_gp, later_gp (the physio is no doctor)
        "doctors_sas_participants": 4,
        "doctors_sas_participation_rate": 1.0,
        "doctors_level2": 0,
        "doctors_accepting_surnumeraire": 0,
        "doctors_publishing": 2,  # gp and cancelled_gp have non-blocked slots in March
        "requests_with_cpts_appointment": 3,  # r1, r2, r7 booked with the gp of CPTS A
        "requests_with_cpts_appointment_rate": 0.375,
        "consultations_done_via_cpts": 1,  # r1
    }
    f.ProfessionalFactory(cpts=cpts_a, cpts_level2=True, sas_participant=False)
    only_a = contract_compute(**MARCH, cpts_ids={cpts_a.pk})
    # CPTS A covers Évry, where every factory practice is: the same doctors plus the new one.
    assert only_a["doctors_total"] == 5
    assert only_a["doctors_sas_participants"] == 4
    assert only_a["doctors_sas_participation_rate"] == 0.8
    assert only_a["doctors_level2"] == 1
    assert only_a["requests_with_cpts_appointment"] == 3


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2024, 3, 1), date(2024, 3, 31), (date(2024, 2, 1), date(2024, 2, 29))),
        (date(2024, 1, 1), date(2024, 1, 31), (date(2023, 12, 1), date(2023, 12, 31))),
        (date(2024, 3, 10), date(2024, 3, 16), (date(2024, 3, 3), date(2024, 3, 9))),
    ],
)
def test_it_compares_with_the_previous_period(start, end, expected):
    assert previous_period(start=start, end=end) == expected


# --- Dashboard page ---------------------------------------------------------------------


def test_it_shows_the_dashboard_of_the_regulators_sas(client, march, regis, sas91):
    response = login(client, regis).get(DASHBOARD, PERIOD)
    assert response.status_code == 200
    data = response.context["data"]
    assert data["territory"].public_id == sas91.public_id
    assert data["current"]["requests_total"] == 8
    assert data["previous"]["requests_total"] == 1  # 29 February 23:30
    assert data["previous"]["consultations_done"] == 1
    tables = {t.slug: t for t, _ in response.context["tables"]}
    assert set(tables) == {
        "synthese",
        "participants",
        "portes",
        "niveau2",
        "canaux",
        "issues",
        "motifs",
        "professions",
        "placements",
        "jours",
        "semaines",
        "demande_heure",
        "offre_heure",
        "contrat",
    }
    summary = {row[0]: row[1:] for row in tables["synthese"].rows}
    assert summary["Demandes"] == [8, 1, 7]
    assert summary["Taux de réponse (%)"] == [25.0, 100.0, -75.0]
    assert summary["Délai médian demande → rendez-vous (h)"] == [20.0, None, None]
    assert summary["Délai 90e centile (h)"][0] == 51.0
    assert summary["Créneaux utilisés"][0] == 4
    outcomes = {row[0]: row[1] for row in tables["issues"].rows}
    assert outcomes == {
        "Consultation réalisée": 2,
        "Conseil médical": 0,
        "Non venu": 1,
        "Annulé": 0,
        "Réorienté 15 / urgences": 1,
        "Orienté ailleurs (PDSA, pharmacie)": 0,
        "Sans solution": 1,
        "Rendez-vous à venir": 1,
        "À orienter": 2,
        "À réguler": 0,
    }
    motifs = tables["motifs"].rows
    assert motifs == [
        ["A03", "Fièvre", 4, 66.67],
        ["R05", "Toux", 2, 33.33],
        ["—", "Sans motif CISP-2", 2, None],
    ]
    html = response.content.decode()
    assert "<h1>Indicateurs — SAS Essonne</h1>" in html
    assert 'id="chart-canaux"' in html and 'id="table-canaux"' in html


def test_it_keeps_scripts_out_of_the_page(client, march, regis):
    html = login(client, regis).get(DASHBOARD, PERIOD).content.decode()
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts, "no script at all"
    for tag in scripts:
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert '<script id="indicators-charts" type="application/json">' in html
    assert "indicators/vendor/chart.umd.min.js" in html


@time_machine.travel("2026-12-01 08:00 +01:00", tick=False)
def test_it_defaults_to_the_last_complete_month(client, regis):
    # Before: the current month, so on the 1st every rate read 0 %.
    response = login(client, regis).get(DASHBOARD)
    assert response.status_code == 200
    assert (response.context["start"], response.context["end"]) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
    )


def test_it_refuses_a_bad_period_on_the_dashboard(client, regis):
    response = login(client, regis).get(DASHBOARD, {"debut": "2024-03-31", "fin": "2024-03-01"})
    assert response.status_code == 400
    assert "date de fin" in response.content.decode()


def test_it_shows_a_coordinator_her_cpts_only(client, march, coralie, cpts_a, cpts_b, sas91):
    login(client, coralie)
    response = client.get(DASHBOARD, PERIOD)
    assert response.status_code == 200
    assert response.context["territory"].public_id == cpts_b.public_id
    assert [t.public_id for t in response.context["choices"]] == [cpts_b.public_id]
    assert response.context["data"]["current"]["requests_total"] == 0
    for outside in (cpts_a, sas91):
        response = client.get(DASHBOARD, {**PERIOD, "territoire": str(outside.public_id)})
        assert response.status_code == 404


def test_it_lets_a_regulator_choose_a_cpts_of_his_sas(client, march, regis, cpts_a, sas43):
    login(client, regis)
    response = client.get(DASHBOARD, {**PERIOD, "territoire": str(cpts_a.public_id)})
    assert response.status_code == 200
    assert response.context["data"]["current"]["requests_total"] == 8
    assert client.get(DASHBOARD, {"territoire": str(sas43.public_id)}).status_code == 404
    assert client.get(DASHBOARD, {"territoire": "pas-un-uuid"}).status_code == 404


@pytest.mark.parametrize("who", ["oscar", "nobody", "olivia", "dr_alice"])
def test_it_refuses_roles_without_indicators(client, request, who):
    user = request.getfixturevalue(who)
    user = user.user if hasattr(user, "rpps") else user
    login(client, user)
    for url in (DASHBOARD, export_url("synthese", "csv"), REPORT, REPORT_PDF):
        assert client.get(url).status_code == 403, url


def test_it_sends_anonymous_users_to_the_login_page(client):
    for url in (DASHBOARD, export_url("synthese", "xlsx"), REPORT_PDF):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(resolve_url("accounts:login"))


def test_it_links_the_dashboard_in_the_navigation(client, regis, olivia):
    assert 'href="/indicateurs/"' in login(client, regis).get("/indicateurs/").content.decode()
    client.logout()
    page = login(client, olivia).get("/demandes/")
    assert 'href="/indicateurs/"' not in page.content.decode()


# --- Exports ----------------------------------------------------------------------------


def test_it_exports_a_table_as_csv_for_excel(client, march, regis):
    response = login(client, regis).get(export_url("synthese", "csv"), PERIOD)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == ["Indicateur", "Période", "Période précédente", "Évolution"]
    by_label = {row[0]: row[1:] for row in rows[1:]}
    assert by_label["Demandes"] == ["8", "1", "7"]
    assert by_label["Taux de réponse (%)"] == ["25,0", "100,0", "-75,0"]
    assert by_label["Délai médian demande → rendez-vous (h)"] == ["20,0", "", ""]


def test_it_exports_the_daily_series_with_french_dates(client, march, regis):
    rows = read_csv(login(client, regis).get(export_url("jours", "csv"), PERIOD))
    assert rows[0] == [
        "Date",
        "Demandes",
        "Consultations réalisées",
        "Créneaux publiés",
        "Créneaux utilisés",
    ]
    assert len(rows) == 32
    assert rows[10] == ["10/03/2024", "7", "2", "3", "2"]


def test_it_exports_every_table_as_csv(client, march, regis):
    login(client, regis)
    slugs = [t.slug for t, _ in client.get(DASHBOARD, PERIOD).context["tables"]]
    for slug in slugs:
        rows = read_csv(client.get(export_url(slug, "csv"), PERIOD))
        assert len(rows) >= 2, slug
    heat = read_csv(client.get(export_url("demande_heure", "csv"), PERIOD))
    assert heat[0][:3] == ["Jour", "0 h", "1 h"]
    assert heat[7][0] == "Dimanche" and heat[7][1 + 10] == "7"


def test_it_exports_a_table_as_xlsx(client, march, regis):
    response = login(client, regis).get(export_url("issues", "xlsx"), PERIOD)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Demandes par issue"]
    rows = list(book.active.values)
    assert rows[2] == ("Issue", "Demandes", "Part (%)")
    assert rows[3] == ("Consultation réalisée", 2, 25.0)


def test_it_exports_every_table_in_one_workbook(client, march, regis):
    response = login(client, regis).get(export_url("tout", "xlsx"), PERIOD)
    book = load_workbook(io.BytesIO(response.content))
    assert len(book.sheetnames) == 14
    daily = book["Série quotidienne"]
    assert daily.cell(row=4, column=1).value.date() == date(2024, 3, 1)
    assert daily.cell(row=13, column=2).value == 7  # 10 March


def test_it_refuses_unknown_tables_and_a_csv_of_everything(client, regis):
    login(client, regis)
    assert client.get(export_url("inconnu", "csv"), PERIOD).status_code == 404
    assert client.get(export_url("tout", "csv"), PERIOD).status_code == 404
    bad = client.get(export_url("synthese", "csv"), {"debut": "2024-13-01"})
    assert bad.status_code == 400


def test_it_refuses_exports_outside_the_coordinators_cpts(client, march, coralie, cpts_a, cpts_b):
    login(client, coralie)
    for fmt in ("csv", "xlsx"):
        outside = {**PERIOD, "territoire": str(cpts_a.public_id)}
        assert client.get(export_url("synthese", fmt), outside).status_code == 404
        inside = {**PERIOD, "territoire": str(cpts_b.public_id)}
        assert client.get(export_url("synthese", fmt), inside).status_code == 200


# --- ARS report -------------------------------------------------------------------------


def test_it_renders_the_monthly_report(client, march, regis):
    response = login(client, regis).get(REPORT, {"mois": "2024-03"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Rapport mensuel d&#x27;activité SNP — SAS Essonne" in html
    assert "Mars 2024 (du 01/03/2024 au 31/03/2024)" in html
    assert "Médecins participant au SAS" in html
    assert "Demandes SAS ayant abouti à un rendez-vous via la CPTS" in html
    assert "@media print" not in html  # the print rules live in the static stylesheet
    assert "indicators/indicators.css" in html
    slugs = [t.slug for t, _ in response.context["tables"]]
    assert slugs[0] == "contrat" and "synthese" in slugs


def test_it_renders_the_report_as_pdf(client, march, regis):
    response = login(client, regis).get(REPORT_PDF, {"mois": "2024-03"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert 'filename="rapport-ars-sas-essonne-2024-03.pdf"' in response["Content-Disposition"]


def test_it_defaults_the_report_to_last_month(client, regis):
    response = login(client, regis).get(REPORT)
    assert response.status_code == 200
    assert response.context["end"] < response.context["generated"].date()


def test_it_refuses_a_bad_month(client, regis):
    assert login(client, regis).get(REPORT, {"mois": "mars"}).status_code == 400


def test_it_refuses_the_report_outside_the_coordinators_cpts(client, coralie, cpts_a, sas91):
    login(client, coralie)
    for url in (REPORT, REPORT_PDF):
        for outside in (cpts_a, sas91):
            response = client.get(url, {"territoire": str(outside.public_id), "mois": "2024-03"})
            assert response.status_code == 404


# --- SNP91, through the dashboard ---------------------------------------------------------


def test_it_gives_back_the_snp91_totals_on_the_dashboard(client, regis, sas91):
    build_snp91(sas91)
    response = login(client, regis).get(DASHBOARD, {"debut": "2022-09-01", "fin": "2023-08-31"})
    assert response.status_code == 200
    figures = response.context["data"]["current"]
    assert figures["requests_total"] == 3655
    assert figures["requests_by_channel"] == {"phone": 3215, "web": 440, "professional": 0}
    assert figures["consultations_done"] == 1278
    assert figures["response_rate"] == 0.3497
    html = response.content.decode()
    assert "3\u202f655" in html and "34,97" in html
    rows = read_csv(
        client.get(export_url("canaux", "csv"), {"debut": "2022-09-01", "fin": "2023-08-31"})
    )
    assert rows[1] == ["Téléphone", "3215", "87,96"]
    assert rows[2] == ["Web", "440", "12,04"]


def test_it_lands_a_coordinator_on_the_dashboard(client, coralie):
    client.force_login(coralie)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/indicateurs/"
