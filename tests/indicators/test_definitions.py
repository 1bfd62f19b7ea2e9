"""Indicators that read right (issue 19, item 8): one definition per figure, shown on the
page, in the report, in the API's OpenAPI document and in docs/indicators.md; the same
numbers in the page, the CSV, the XLSX, the PDF report and GET /api/v1/indicators."""

import csv
import html
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from relais.indicators.definitions import DEFINITIONS, RATE_KEYS, SUMMARY_KEYS, label
from relais.indicators.exports import csv_cell, display_cell
from tests.conftest import login
from tests.indicators.test_exports import pdf_text
from tests.indicators.test_indicators import auth, make_token

pytestmark = pytest.mark.django_db
PERIOD = {"debut": "2024-03-01", "fin": "2024-03-31"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "indicators.md"


def test_the_docs_carry_every_definition_verbatim():
    docs = DOCS.read_text()
    for key, (term, text) in DEFINITIONS.items():
        assert f"| `{key}` | {term} | {text} |" in docs, key


def test_the_api_describes_each_field_with_the_same_definition(client):
    schema = client.get("/api/v1/openapi.json").json()
    properties = schema["components"]["schemas"]["IndicatorsOut"]["properties"]
    for key in DEFINITIONS:
        if key in properties:
            assert properties[key]["description"] == DEFINITIONS[key][1], key
    assert set(SUMMARY_KEYS) <= set(properties)
    # Every request status of docs/indicators.md is a key of the API (two were missing).
    statuses = schema["components"]["schemas"]["StatusCounts"]["properties"]
    assert {"to_regulate", "oriented"} <= set(statuses) and len(statuses) == 10


def test_the_page_shows_the_definitions(client, march, regis):
    page = login(client, regis).get("/indicateurs/", PERIOD).content.decode()
    assert "docs/indicators.md" not in page  # before: a repository path
    text = html.unescape(page)
    for term, definition in (DEFINITIONS[k] for k in SUMMARY_KEYS):
        assert f"<dt>{term}</dt><dd>{definition}</dd>" in text
    report = html.unescape(client.get("/indicateurs/rapport-ars/", {"mois": "2024-03"}).text)
    assert "docs/indicators.md" not in report
    assert DEFINITIONS["within_24h_rate"][1] in report


def _page_cells(page: str) -> dict[str, str]:
    """{row label: first value cell} of the key-figures table of the page."""
    table = page[page.index('id="table-synthese"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r'<th scope="row">(.*?)</th><td[^>]*>(.*?)</td>', table)
    return {html.unescape(k): html.unescape(v) for k, v in rows}


def test_page_csv_xlsx_pdf_and_api_give_the_same_numbers(client, march, regis, sas91):
    login(client, regis)
    api = client.get(
        "/api/v1/indicators",
        {"start": "2024-03-01", "end": "2024-03-31", "territory": str(sas91.public_id)},
        **auth(make_token()),
    ).json()
    expected = {
        label(k): (round(api[k] * 100, 2) if k in RATE_KEYS else api[k]) for k in SUMMARY_KEYS
    }
    assert expected[label("within_24h_rate")] == 50.0  # one of the two patients seen in 24 h

    page = _page_cells(client.get("/indicateurs/", PERIOD).content.decode())
    rows = list(
        csv.reader(
            io.StringIO(
                client.get("/indicateurs/export/synthese.csv", PERIOD).content.decode("utf-8-sig")
            ),
            delimiter=";",
        )
    )
    csv_cells = {row[0]: row[1] for row in rows[1:]}
    book = load_workbook(
        io.BytesIO(client.get("/indicateurs/export/synthese.xlsx", PERIOD).content)
    )
    xlsx_cells = {row[0]: row[1] for row in book.active.iter_rows(min_row=4, values_only=True)}
    report = client.get("/indicateurs/rapport-ars/", {"mois": "2024-03"}).context
    (synthese,) = [t for t in report["raw_tables"] if t.slug == "synthese"]
    report_cells = {row[0]: row[1] for row in synthese.rows}
    for term, value in expected.items():
        assert page[term] == display_cell(value), term
        assert csv_cells[term] == csv_cell(value), term
        assert xlsx_cells[term] == value, term
        assert report_cells[term] == value, term
    pdf = pdf_text(client.get("/indicateurs/rapport-ars.pdf", {"mois": "2024-03"}).content)
    assert b"Vus sous 24 h" in pdf and b"Demandes avec patient vu" in pdf

    # The participants table: the API's rows are the page's and the report's, cell by cell.
    (participants,) = [t for t in report["raw_tables"] if t.slug == "participants"]
    api_rows = [
        [
            r["name"], r["rpps"], r["sas_participant"], r["slots_published"],
            r["hours_published"], f"{r['weeks_with_min_hours']} sur {r['weeks']}",
            r["declares_two_hours"], r["patients_seen"], r["no_shows"], r["majorations_due"],
            r["majorations_amount"],
        ]
        for r in api["participants"]
    ]  # fmt: skip
    assert api_rows and api_rows == [list(row) for row in participants.rows]
    assert sum(r["patients_seen"] for r in api["participants"]) > 0
    page_text = client.get("/indicateurs/", PERIOD).content.decode()
    table = page_text[page_text.index('id="table-participants"') :]
    table = table[: table.index("</table>")]
    page_rows = [
        [html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>") :], re.S)
    ]
    assert page_rows == [[display_cell(v) for v in row] for row in api_rows]
