"""Exports a spreadsheet opens safely (issue 19, item 9): every CSV/XLSX cell that starts
with = + - @ TAB or CR is neutralised, sheet names are whole words, the ARS report
announces no chart it does not have, file names keep their letters ("œ" -> "oe")."""

import base64
import io
import re
import zlib

import pytest
from openpyxl import load_workbook

from relais.indicators.exports import _sheet_title, ascii_slug, table_csv, tables_xlsx
from relais.indicators.tables import DataTable
from tests import factories as f
from tests.conftest import login

pytestmark = pytest.mark.django_db
PERIOD = {"debut": "2024-03-01", "fin": "2024-03-31"}
PAYLOADS = ['=HYPERLINK("http://x","clic")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx"]


def pdf_text(pdf: bytes) -> bytes:
    out = b""
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        if raw.rstrip().endswith(b"~>"):
            raw = base64.a85decode(raw.strip(), adobe=True)
        try:
            out += zlib.decompress(raw)
        except zlib.error:
            continue
    return out


def test_no_xlsx_cell_is_a_formula():
    table = DataTable("t", PAYLOADS[0], ["=col", "n"], [[p, 1] for p in PAYLOADS], note="@note")
    book = load_workbook(io.BytesIO(tables_xlsx([table], heading="=heading")))
    cells = [c for row in book.active.iter_rows() for c in row if c.value is not None]
    # Before: openpyxl stored "=HYPERLINK(...)" as a formula (data_type "f").
    assert all(c.data_type != "f" for c in cells)
    texts = [c.value for c in cells if isinstance(c.value, str)]
    for payload in PAYLOADS:
        assert "'" + payload in texts
    assert "'=heading" in texts and "'@note" in texts and "'=col" in texts
    assert 1 in [c.value for c in cells]  # numbers stay numbers


def test_no_csv_cell_is_a_formula():
    table = DataTable("t", "T", ["=col"], [[p] for p in PAYLOADS] + [[-3.5]])
    lines = table_csv(table).decode("utf-8-sig").splitlines()
    assert lines[0] == "'=col"
    assert lines[-1] == "-3,5"  # a negative number is no formula
    assert all(line.startswith(("'", "\"'")) for line in lines[1:-1])


def test_a_territory_named_like_a_formula_is_neutralised_in_the_workbook(client, regis, sas91):
    sas91.name = '=HYPERLINK("http://x")'
    sas91.save(update_fields=["name"])
    response = login(client, regis).get("/indicateurs/export/tout.xlsx", PERIOD)
    book = load_workbook(io.BytesIO(response.content))
    for sheet in book.worksheets:
        assert sheet["A1"].data_type != "f" and sheet["A1"].value.startswith("'=")


def test_sheet_names_are_whole_words():
    used = set()
    long = "Professionnels sollicités (rendez-vous non annulés) par profession"
    # Before: "Professionnels sollicités (rend" (31 characters, cut mid-word).
    assert _sheet_title(long, used) == "Professionnels sollicités"
    assert _sheet_title(long, used) == "Professionnels sollicités (2)"
    assert _sheet_title("a/b:c", used) == "a b c"


def test_the_workbook_sheets_are_named_after_their_tables(client, march, regis):
    response = login(client, regis).get("/indicateurs/export/tout.xlsx", PERIOD)
    names = load_workbook(io.BytesIO(response.content)).sheetnames
    assert names == [
        "Chiffres clés",
        "Médecins participants",
        "Demandes par porte d'entrée",
        "Niveau 2",
        "Demandes par canal",
        "Demandes par issue",
        "Motifs CISP-2",
        "Sollicités par profession",
        "Rendez-vous par placement",
        "Série quotidienne",
        "Série hebdomadaire",
        "Demande par jour et heure",
        "Offre par jour et heure",
        "Contrat CPTS (mission SAS)",
    ]
    assert all(len(n) <= 31 for n in names)


def test_the_report_announces_no_chart(client, march, regis):
    login(client, regis)
    html = client.get("/indicateurs/rapport-ars/", {"mois": "2024-03"}).content.decode()
    # Before: "Dix premiers motifs sur le graphique." under a table without a chart.
    assert "graphique" not in html.lower()
    pdf = client.get("/indicateurs/rapport-ars.pdf", {"mois": "2024-03"}).content
    text = pdf_text(pdf)
    assert b"Motifs" in text or b"motif" in text
    assert b"graphique" not in text.lower()
    dashboard = client.get("/indicateurs/", PERIOD).content.decode()
    assert "Dix premiers motifs sur le graphique" in dashboard  # next to the chart itself


def test_file_names_keep_their_letters(client, regis, sas91):
    assert ascii_slug("CPTS Cœur d'Essonne") == "cpts-coeur-d-essonne"
    assert ascii_slug("Æther Straße") == "aether-strasse"
    assert ascii_slug("???") == "export"
    cpts = f.CptsFactory(name="CPTS Cœur Essonne", sas=sas91)
    login(client, regis)
    query = {**PERIOD, "territoire": str(cpts.public_id)}
    csv = client.get("/indicateurs/export/issues.csv", query)
    # Before: slugify dropped the "œ": "cpts-cur-essonne".
    assert (
        "indicateurs-issues-cpts-coeur-essonne-20240301-20240331.csv" in csv["Content-Disposition"]
    )
    pdf = client.get("/indicateurs/rapport-ars.pdf", {"mois": "2024-03", **query})
    assert 'filename="rapport-ars-cpts-coeur-essonne-2024-03.pdf"' in pdf["Content-Disposition"]
