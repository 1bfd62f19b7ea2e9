"""The SAS participation forfait's parameters per SAS (issue 19, item 7): the CPTS's amount
first, then its SAS's, then the settings; the weekly hours from the SAS, else the settings;
set on the SAS settings page by its administrator, validated in French and audited."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from relais.accounts.models import Role
from relais.agenda.statement import participation_statement
from relais.audit.models import AuditEvent
from relais.indicators.selectors import indicators_participants
from tests import factories as f
from tests.agenda.helpers import paris

pytestmark = pytest.mark.django_db
NOV = date(2026, 11, 1)


def weekly_slots(pro, hours: float):
    # November 2026 touches ISO weeks 44 to 49: one slot each Monday of those weeks.
    for d in range(0, 42, 7):
        start = paris(2026, 10, 26, 8) + timedelta(days=d)
        f.SlotFactory(professional=pro, start=start, end=start + timedelta(hours=hours))


def test_the_sas_sets_the_forfait_when_the_cpts_has_none(dr_alice, settings):
    settings.RELAIS_SAS_FORFAIT_EUR = Decimal("1400")
    settings.RELAIS_SAS_FORFAIT_MIN_WEEKLY_HOURS = 2
    weekly_slots(dr_alice, 2.5)
    forfait = participation_statement(professional=dr_alice, month=NOV).forfait
    assert (forfait.amount_eur, forfait.min_weekly_hours) == (Decimal("1400"), 2.0)
    assert forfait.conditions_met

    sas = dr_alice.cpts.sas
    sas.forfait_eur, sas.forfait_min_weekly_hours = Decimal("1600"), Decimal("3")
    sas.save()
    dr_alice.refresh_from_db()
    forfait = participation_statement(professional=dr_alice, month=NOV).forfait
    assert (forfait.amount_eur, forfait.min_weekly_hours) == (Decimal("1600"), 3.0)
    assert forfait.weeks_meeting_hours == 0 and not forfait.conditions_met  # 2.5 h < 3 h
    assert "au moins 3 h par semaine" in forfait.summary()

    cpts = dr_alice.cpts
    cpts.forfait_eur = Decimal("1200")
    cpts.save(update_fields=["forfait_eur"])
    dr_alice.refresh_from_db()
    forfait = participation_statement(professional=dr_alice, month=NOV).forfait
    assert forfait.amount_eur == Decimal("1200")  # the CPTS's amount comes first
    assert forfait.min_weekly_hours == 3.0  # the CPTS sets no hours: the SAS's


def test_the_participants_table_reads_the_sas_hours_like_the_statement(dr_alice, sas91):
    dr_alice.sas_participant = True
    dr_alice.save(update_fields=["sas_participant"])
    weekly_slots(dr_alice, 2.5)
    period = {"start": NOV, "end": date(2026, 11, 30), "sas_ids": {sas91.pk}}
    (row,) = indicators_participants(**period)
    assert (row["weeks"], row["weeks_with_min_hours"]) == (6, 6)
    sas91.forfait_min_weekly_hours = Decimal("3")
    sas91.save(update_fields=["forfait_min_weekly_hours"])
    (row,) = indicators_participants(**period)
    dr_alice.refresh_from_db()
    forfait = participation_statement(professional=dr_alice, month=NOV).forfait
    assert row["weeks_with_min_hours"] == forfait.weeks_meeting_hours == 0


def test_without_a_cpts_the_settings_apply(dr_alice, settings):
    settings.RELAIS_SAS_FORFAIT_EUR = Decimal("1500")
    sas = dr_alice.cpts.sas
    sas.forfait_eur = Decimal("1600")
    sas.save()
    dr_alice.cpts = None
    dr_alice.save(update_fields=["cpts"])
    forfait = participation_statement(professional=dr_alice, month=NOV).forfait
    assert forfait.amount_eur == Decimal("1500")


def form(**over):
    data = {"name": "SAS 91", "phone": "15", "radius_km": "12", "forfait_eur": "",
            "forfait_min_weekly_hours": ""}  # fmt: skip
    return {**data, **over}


def test_the_sas_administrator_sets_them_audited_and_validated(client, sas91, dr_alice):
    admin = f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)
    client.force_login(admin)
    url = reverse("territory:sas_settings", args=[sas91.public_id])
    response = client.post(url, form(forfait_eur="1650,50", forfait_min_weekly_hours="2,5"))
    assert response.status_code == 302
    sas91.refresh_from_db()
    assert (sas91.forfait_eur, sas91.forfait_min_weekly_hours) == (
        Decimal("1650.50"),
        Decimal("2.50"),
    )
    event = AuditEvent.objects.filter(action="update", object_id=str(sas91.public_id)).latest("pk")
    assert "forfait 1650,50" in event.reason and "heures du forfait 2,50" in event.reason
    page = client.get(url).content.decode()
    assert "Forfait annuel de participation au SAS" in page and "1650" in page

    for bad, message in (
        ({"forfait_eur": "-5"}, "Le forfait ne peut pas être négatif."),
        ({"forfait_min_weekly_hours": "0"}, "Au moins 0,5 h par semaine."),
        ({"forfait_min_weekly_hours": "41"}, "Au plus 40 h par semaine."),
        ({"forfait_eur": "beaucoup"}, "Saisissez un nombre"),
    ):
        response = client.post(url, form(**bad))
        assert response.status_code == 200 and message in response.content.decode(), bad
    sas91.refresh_from_db()
    assert sas91.forfait_eur == Decimal("1650.50")  # nothing written by a refused form

    # Emptied: back to the national settings, audited as such.
    assert client.post(url, form()).status_code == 302
    sas91.refresh_from_db()
    assert sas91.forfait_eur is None and sas91.forfait_min_weekly_hours is None
    event = AuditEvent.objects.filter(action="update", object_id=str(sas91.public_id)).latest("pk")
    assert "forfait national" in event.reason


def test_a_coordinator_cannot_set_them(client, sas91, coralie):
    client.force_login(coralie)
    url = reverse("territory:sas_settings", args=[sas91.public_id])
    assert client.post(url, form(forfait_eur="9999")).status_code == 403
    sas91.refresh_from_db()
    assert sas91.forfait_eur is None
