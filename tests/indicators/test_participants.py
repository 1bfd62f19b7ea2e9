"""The participating doctors' table (issue 19, item 8): what each doctor published against
the 2 h a week, patients seen, no-shows and the majorations due, by the statement's rule."""

from datetime import date, timedelta

import pytest

from relais.agenda.statement import participation_statement
from relais.indicators.selectors import indicators_participants
from relais.orientation.models import BookingStatus
from tests import factories as f
from tests.agenda.helpers import book, paris
from tests.conftest import login

pytestmark = pytest.mark.django_db
DECEMBER = {"start": date(2026, 12, 1), "end": date(2026, 12, 31)}


def test_it_lists_each_doctor_with_the_statements_majorations(dr_alice, cpts_a, sas91):
    dr_alice.sas_participant = True
    dr_alice.declares_two_hours = True
    dr_alice.save(update_fields=["sas_participant", "declares_two_hours"])
    # Week 49 (30 Nov - 6 Dec): 15 consultations in November, 10 in December.
    for i in range(15):
        slot = f.SlotFactory(
            professional=dr_alice, start=paris(2026, 11, 30, 8) + i * timedelta(minutes=20)
        )
        book(slot, status=BookingStatus.FULFILLED)
    for i in range(10):
        slot = f.SlotFactory(
            professional=dr_alice, start=paris(2026, 12, 1, 8) + i * timedelta(minutes=20)
        )
        book(slot, status=BookingStatus.FULFILLED)
    book(f.SlotFactory(professional=dr_alice, start=paris(2026, 12, 8, 9)), status="noshow")
    idle = f.ProfessionalFactory(cpts=cpts_a, last_name="Zoé", sas_participant=True)
    f.ProfessionalFactory(cpts=cpts_a, last_name="Absent", sas_participant=False)  # not taking part
    rows = indicators_participants(**DECEMBER, sas_ids={sas91.pk})
    assert [r["rpps"] for r in rows] == [dr_alice.rpps, idle.rpps]
    alice = rows[0]
    statement = participation_statement(professional=dr_alice, month=date(2026, 12, 1))
    assert alice["majorations_due"] == statement.majorations == 5  # 20 - November's 15
    assert alice["majorations_amount"] == float(statement.amount) == 75.0
    assert (alice["patients_seen"], alice["no_shows"]) == (10, 1)
    assert alice["slots_published"] == 11
    assert alice["hours_published"] == round(11 * 20 / 60, 2)
    # December 2026 touches ISO weeks 49 to 53: week 49 has 25 x 20 min (8.3 h) in all.
    assert (alice["weeks"], alice["weeks_with_min_hours"]) == (5, 1)
    assert rows[1]["slots_published"] == 0 and rows[1]["majorations_due"] == 0


def test_the_dashboard_shows_the_participants(client, dr_alice, regis, sas91):
    f.SlotFactory(professional=dr_alice, start=paris(2026, 12, 2, 9))
    login(client, regis)
    page = client.get("/indicateurs/", {"debut": "2026-12-01", "fin": "2026-12-31"})
    tables = {t.slug: t for t, _ in page.context["tables"]}
    (row,) = tables["participants"].rows
    assert row[0] == dr_alice.display_name and row[3] == 1
    assert "Médecins participants" in page.content.decode()
