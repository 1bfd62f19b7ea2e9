"""The participation statement's 2026 rules (issue 19, item 7): the weekly cap of the ISO
week across month boundaries, the SAS participation forfait and its conditions, and the
same figures in the page, the CSV (BOM, `;`, decimal comma) and the PDF ("15,00 €")."""

import base64
import re
import zlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from relais.agenda.statement import euros, participation_statement, statement_tables
from relais.orientation.models import BookingStatus
from tests import factories as f
from tests.agenda.helpers import book, paris
from tests.conftest import login

pytestmark = pytest.mark.django_db
TWENTY = timedelta(minutes=20)
NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)


def url(pro):
    return reverse("agenda:statement", args=[pro.public_id])


def consultations(pro, first, n, status=BookingStatus.FULFILLED):
    for i in range(n):
        book(f.SlotFactory(professional=pro, start=first + i * TWENTY), status=status)


def test_a_week_across_two_months_pays_at_most_the_weekly_cap(dr_alice):
    # ISO week 49 of 2026 runs from Monday 30 November to Sunday 6 December.
    consultations(dr_alice, paris(2026, 11, 30, 8), 15)
    consultations(dr_alice, paris(2026, 12, 1, 8), 10)
    november = participation_statement(professional=dr_alice, month=NOV)
    december = participation_statement(professional=dr_alice, month=DEC)
    assert (november.consultations, november.majorations) == (15, 15)
    # Before: December counted its 10 alone against the cap (10 more, 25 in one week).
    assert (december.consultations, december.majorations) == (10, 5)
    assert november.majorations + december.majorations == 20
    week = december.weeks[0]
    assert (week.year, week.week, week.first_day) == (2026, 49, date(2026, 11, 30))
    assert (week.other_month_consultations, week.cap_taken_before) == (15, 15)
    assert december.amount == Decimal("75")


def test_a_month_keeps_its_majorations_when_the_next_month_fills_the_week(dr_alice):
    consultations(dr_alice, paris(2026, 11, 30, 8), 4)
    before = participation_statement(professional=dr_alice, month=NOV).majorations
    consultations(dr_alice, paris(2026, 12, 2, 8), 30)
    after = participation_statement(professional=dr_alice, month=NOV)
    december = participation_statement(professional=dr_alice, month=DEC)
    assert before == after.majorations == 4
    assert after.weeks[0].other_month_consultations == 30
    assert december.majorations == 16  # 20 - the 4 of November


def test_a_full_first_week_leaves_nothing_to_the_next_month(dr_alice):
    consultations(dr_alice, paris(2026, 11, 30, 8), 22)
    consultations(dr_alice, paris(2026, 12, 3, 8), 2, status=BookingStatus.NOSHOW)
    consultations(dr_alice, paris(2026, 12, 4, 8), 3)
    december = participation_statement(professional=dr_alice, month=DEC)
    assert (december.consultations, december.majorations, december.noshows) == (3, 0, 2)
    assert december.amount == Decimal("0")


def test_the_page_csv_and_pdf_print_the_same_figures_the_french_way(client, dr_alice):
    consultations(dr_alice, paris(2026, 11, 2, 8), 22)  # week 45: 20 majorations
    consultations(dr_alice, paris(2026, 11, 10, 8), 1)  # week 46: 1
    login(client, dr_alice.user)
    page = client.get(url(dr_alice), {"mois": "2026-11"})
    s = page.context["s"]
    assert (s.consultations, s.majorations, s.amount) == (23, 21, Decimal("315"))
    text = page.content.decode()
    for label in ("300,00\xa0€", "15,00\xa0€", "315,00\xa0€"):
        assert label in text
    assert "15.00" not in text and "315 €" not in text

    csv = client.get(url(dr_alice), {"mois": "2026-11", "format": "csv"})
    raw = csv.content
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM a French Excel needs for UTF-8
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0].split(";")[5] == "montant (€)"
    assert lines[1] == "2026-S45;02/11/2026;22;0;20;300,00;7,33;0"
    assert lines[2] == "2026-S46;09/11/2026;1;0;1;15,00;0,33;0"
    assert lines[-1] == "total;;23;0;21;315,00;7,67;"
    assert not any(re.search(r"\d\.\d", line) for line in lines)  # no decimal point left

    cells = [row[4] for row in statement_tables(s)[0].rows]
    assert cells == ["300,00\xa0€", "15,00\xa0€", "315,00\xa0€"]
    pdf = client.get(url(dr_alice), {"mois": "2026-11", "format": "pdf"}).content
    streams = _pdf_text(pdf)
    assert b"315,00" in streams and b"15,00" in streams and b"15.00" not in streams


def _pdf_text(pdf: bytes) -> bytes:
    """The page streams of a ReportLab PDF (ASCII85 then Flate encoded), decoded."""
    out = b""
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        if raw.rstrip().endswith(b"~>"):
            raw = base64.a85decode(raw.strip(), adobe=True)
        try:
            out += zlib.decompress(raw)
        except zlib.error:
            continue
    return out


def test_euros_groups_thousands_and_rounds_to_the_cent():
    assert euros(Decimal("1400")) == "1\xa0400,00\xa0€"
    assert euros(Decimal("12.505")) == "12,51\xa0€"
    assert euros(Decimal("0")) == "0,00\xa0€"


def test_the_forfait_states_its_amount_and_both_conditions(client, dr_alice):
    dr_alice.sas_participant = False
    dr_alice.declares_two_hours = True
    dr_alice.save(update_fields=["sas_participant", "declares_two_hours"])
    # November 2026 touches ISO weeks 44 (Sun 1st) to 49 (Mon 30th): six weeks.
    for monday in (paris(2026, 10, 26, 8), *(paris(2026, 11, d, 8) for d in (2, 9, 16, 23))):
        f.SlotFactory(professional=dr_alice, start=monday, end=monday + timedelta(hours=2))
    forfait = participation_statement(professional=dr_alice, month=NOV).forfait
    assert forfait.amount_eur == Decimal("1400")  # the national amount by default
    assert forfait.registered  # member of CPTS A, which takes part in SAS 91
    assert (forfait.weeks, forfait.weeks_meeting_hours) == (6, 5)
    assert not forfait.conditions_met  # week 49 has no slot

    # Week 49 reaches 2 h with a slot on Friday 4 December: the whole ISO week counts.
    f.SlotFactory(professional=dr_alice, start=paris(2026, 12, 4, 9), end=paris(2026, 12, 4, 11))
    cpts = dr_alice.cpts
    cpts.forfait_eur = Decimal("1200")
    cpts.save(update_fields=["forfait_eur"])
    dr_alice.refresh_from_db()
    login(client, dr_alice.user)
    page = client.get(url(dr_alice), {"mois": "2026-11"})
    forfait = page.context["s"].forfait
    assert (forfait.weeks_meeting_hours, forfait.conditions_met) == (6, True)
    assert forfait.amount_eur == Decimal("1200")
    text = page.content.decode()
    assert "1\xa0200,00\xa0€ par an" in text and "conditions remplies" in text
    assert "6 semaines sur 6" in text


def test_without_registration_the_forfait_is_not_due(dr_alice):
    dr_alice.sas_participant = False
    dr_alice.cpts = None
    dr_alice.save(update_fields=["sas_participant", "cpts"])
    for d in range(0, 35, 7):
        start = paris(2026, 10, 26, 8) + timedelta(days=d)
        f.SlotFactory(professional=dr_alice, start=start, end=start + timedelta(hours=3))
    forfait = participation_statement(professional=dr_alice, month=NOV).forfait
    assert not forfait.registered and not forfait.conditions_met
    assert "ni inscrit au SAS ni membre d'une CPTS" in forfait.summary()
