"""CSV, XLSX and PDF renderings of the indicator tables (relais.indicators.tables).

- CSV for a French Excel: UTF-8 with a BOM, `;` separator, decimal comma, dates dd/mm/yyyy.
- XLSX (openpyxl): one sheet per table, numbers and dates as native cells.
- PDF (reportlab, pure Python, no system library): the monthly ARS report.
"""

import io
import re
import unicodedata
from datetime import date, datetime
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.styles import Font
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from relais.core.csv_safety import csv_safe, safe_writer
from relais.indicators.tables import DataTable

CSV_BOM = "\ufeff"


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(value).replace(".", ",")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def display_cell(value) -> str:
    """A cell for people (HTML page, PDF): grouped thousands, decimal comma, "—" for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")
    if isinstance(value, float):
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
        return text.replace(",", "\u202f").replace(".", ",")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def table_csv(table: DataTable) -> bytes:
    out = io.StringIO()
    out.write(CSV_BOM)
    writer = safe_writer(out, delimiter=";", lineterminator="\r\n")  # formula-safe
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue().encode("utf-8")


SHEET_MAX = 31
# Letters NFKD does not decompose into ASCII: written out, never dropped ("Cœur" -> "coeur").
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "Oe", "æ": "ae", "Æ": "Ae", "ß": "ss", "ø": "o"})


def ascii_slug(text: str) -> str:
    """A file-name part: "CPTS Cœur d'Essonne" -> "cpts-coeur-d-essonne" (accents folded,
    ligatures written out, anything else a hyphen)."""
    folded = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "export"


def _sheet_title(title: str, used: set[str]) -> str:
    """Excel: at most 31 characters, none of []:*?/\\ ; unique in the workbook. A longer
    title is cut at a word boundary, never mid-word."""
    clean = " ".join("".join(" " if c in "[]:*?/\\" else c for c in title).split())
    if len(clean) > SHEET_MAX:
        clean = clean[: SHEET_MAX + 1].rsplit(" ", 1)[0].rstrip(" ,;—-(")
    candidate, n = clean, 2
    while candidate in used:
        suffix = f" ({n})"
        head = clean[: SHEET_MAX - len(suffix)]
        if head != clean:
            head = head.rsplit(" ", 1)[0] if " " in head else head
        candidate, n = head + suffix, n + 1
    used.add(candidate)
    return candidate


def _xlsx_cell(value):
    """A cell a spreadsheet cannot run: text starting with = + - @ TAB CR neutralised
    (openpyxl itself stores a text starting with "=" as a formula)."""
    return csv_safe(value) if isinstance(value, str) else value


def tables_xlsx(tables: list[DataTable], *, heading: str) -> bytes:
    """One sheet per table: a heading line, the table title, then header and rows."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(_sheet_title(table.sheet or table.title, used))
        sheet.append([_xlsx_cell(heading)])
        sheet.append([_xlsx_cell(table.title)])
        sheet["A2"].font = bold
        sheet.append([_xlsx_cell(c) for c in table.columns])
        for cell in sheet[3]:
            cell.font = bold
        for row in table.rows:
            sheet.append([_xlsx_cell(v) for v in row])
            for cell, value in zip(sheet[sheet.max_row], row, strict=False):
                if isinstance(value, date):
                    cell.number_format = "DD/MM/YYYY"
        if table.note:
            sheet.append([])
            sheet.append([_xlsx_cell(table.note)])
        sheet.column_dimensions["A"].width = max(
            12, min(60, max((len(str(r[0])) for r in table.rows), default=10) + 2)
        )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def report_pdf(*, title: str, subtitle: str, tables: list[DataTable], generated: datetime) -> bytes:
    """The ARS report as an A4 PDF: title, period and territory, then each table."""
    styles = getSampleStyleSheet()
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=1.6 * cm,
        rightMargin=1.6 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=title,
        author="Relais",
        subject=subtitle,
    )
    cell_style = styles["BodyText"].clone("cell", fontSize=8, leading=10)
    story = [
        Paragraph(escape(title), styles["Title"]),
        Paragraph(escape(subtitle), styles["Heading3"]),
        Paragraph(f"Édité le {generated:%d/%m/%Y à %H:%M} (heure de Paris).", styles["Normal"]),
        Spacer(1, 0.4 * cm),
    ]
    for table in tables:
        data = [[Paragraph(f"<b>{escape(c)}</b>", cell_style) for c in table.columns]]
        data += [
            [Paragraph(escape(display_cell(v)), cell_style) for v in row] for row in table.rows
        ]
        width = doc.width
        first = width * (0.45 if len(table.columns) <= 4 else 0.22)
        others = (width - first) / max(1, len(table.columns) - 1)
        grid = Table(data, colWidths=[first] + [others] * (len(table.columns) - 1), repeatRows=1)
        grid.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#aab4c0")),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf1")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        block = [Paragraph(escape(table.title), styles["Heading2"]), grid]
        if table.note:
            block.append(Paragraph(escape(table.note), styles["Italic"]))
        story += [KeepTogether(block[:2]), *block[2:], Spacer(1, 0.3 * cm)]
    doc.build(story)
    return out.getvalue()
