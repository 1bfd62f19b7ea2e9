"""CSV cells that a spreadsheet cannot run as a formula (CSV/formula injection, CWE-1236).

A cell beginning with = + - @ TAB or CR is read by Excel, LibreOffice and Google Sheets as a
formula (`=HYPERLINK(...)`, `@SUM(...)`, DDE payloads). Such a cell is written with a
leading apostrophe, which spreadsheets show as text and do not evaluate. Only str values
are touched, and a text that is only a signed number ("-3,5") is kept: a number cannot
carry a formula. Used by every CSV export of Relais."""

import csv
import re

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A signed number written as text ("-3,5", "+2", "-1 234,5") is no formula: kept as it is.
_NUMBER = re.compile(r"[+-]?\d[\d \u202f\u00a0.,]*%?")


def csv_safe(value):
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_PREFIXES)
        and not _NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def csv_safe_row(row) -> list:
    return [csv_safe(value) for value in row]


class SafeWriter:
    """csv.writer with every text cell made formula-safe; same writerow/writerows API."""

    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    @property
    def dialect(self):
        return self._writer.dialect

    def writerow(self, row):
        return self._writer.writerow(csv_safe_row(row))

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def safe_writer(out, **kwargs) -> SafeWriter:
    return SafeWriter(out, **kwargs)
