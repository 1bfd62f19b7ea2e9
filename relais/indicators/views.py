"""Indicator pages: the dashboard, its exports (CSV, XLSX) and the monthly ARS report.

Every view loads its territory through `territory_get_for_scope` (404 outside the scope) and
computes with the selectors; the tables module shapes the figures once for all outputs.
"""

from datetime import date, timedelta
from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from relais.accounts.permissions import require, scope_for
from relais.core.db_routing import lag_tolerant
from relais.core.errors import ApplicationError, NotFound
from relais.indicators.exports import (
    ascii_slug,
    display_cell,
    report_pdf,
    table_csv,
    tables_xlsx,
)
from relais.indicators.selectors import (
    FIRST_YEAR,
    LAST_YEAR,
    Territory,
    indicators_dashboard,
    month_bounds,
    period_check,
    territories_for_scope,
    territory_get_for_scope,
)
from relais.indicators.tables import REPORT_SLUGS, dashboard_tables, definitions_table, glossary

MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _territory(request) -> tuple[Territory, list[Territory]]:
    """The chosen territory (`territoire`), or the first of the scope; 404 outside it."""
    scope = scope_for(request.user)
    choices = territories_for_scope(scope)
    wanted = request.GET.get("territoire")
    try:
        if wanted:
            return territory_get_for_scope(scope=scope, public_id=wanted), choices
    except NotFound:
        raise Http404("Territoire introuvable.") from None
    if not choices:
        raise Http404("Aucun territoire.")
    return choices[0], choices


def _parse_date(value: str, label: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApplicationError(f"Date de {label} invalide : utilisez AAAA-MM-JJ.") from None


def _last_complete_month() -> tuple[date, date]:
    return month_bounds(timezone.localdate().replace(day=1) - timedelta(days=1))


def _period(params) -> tuple[date, date]:
    """`debut` and `fin` (Paris dates, included); the last complete month by default (on
    the 1st, this month would read 0 % everywhere)."""
    default_start, default_end = _last_complete_month()
    start = _parse_date(params["debut"], "début") if params.get("debut") else default_start
    end = _parse_date(params["fin"], "fin") if params.get("fin") else default_end
    period_check(start=start, end=end)
    return start, end


def _month(params) -> tuple[date, date]:
    """`mois` (AAAA-MM); the last complete month by default."""
    value = params.get("mois")
    if not value:
        return _last_complete_month()
    try:
        year, month = (int(part) for part in value.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise ApplicationError("Mois invalide : utilisez AAAA-MM.") from None
    # Bounded before any date arithmetic: December 9999 overflowed (a 500).
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ApplicationError(
            f"Mois hors limites : choisissez un mois entre {FIRST_YEAR} et {LAST_YEAR}.",
            code="invalid_period",
        )
    return month_bounds(first)


def _bad_request(request, message: str) -> HttpResponse:
    return render(
        request, "core/error.html", {"title": "Demande invalide", "message": message}, status=400
    )


@require("indicators.view")
def dashboard(request):
    territory, choices = _territory(request)
    try:
        start, end = _period(request.GET)
        error = None
    except ApplicationError as exc:
        start, end = _last_complete_month()
        error = exc.message
    data = lag_tolerant()(indicators_dashboard)(start=start, end=end, territory=territory)
    tables = dashboard_tables(data)
    query = {"territoire": territory.public_id, "debut": start.isoformat(), "fin": end.isoformat()}
    now, before = data["current"], data["previous"]
    return render(
        request,
        "indicators/dashboard.html",
        {
            "data": data,
            "territory": territory,
            "choices": choices,
            "start": start,
            "end": end,
            "error": error,
            "tables": [(t, _display_rows(t)) for t in tables],
            "charts": [c for c in (t.chart_config() for t in tables) if c],
            "query": urlencode(query),
            "kpis": _kpis(now, before),
            "report_month": f"{start:%Y-%m}",
            "red_flag_questions": _red_flag_questions(start, end, territory),
            "definitions": glossary(),
        },
        status=400 if error else 200,
    )


def _red_flag_questions(start, end, territory):
    from relais.regulation.red_flags import red_flag_question_stats_for

    return red_flag_question_stats_for(start=start, end=end, **territory.filter)


def _pct(rate: float) -> str:
    return display_cell(round(rate * 100, 1)) + " %"


def _hours(value: float | None) -> str:
    return "—" if value is None else display_cell(value) + " h"


def _kpis(now: dict, before: dict) -> list[tuple[str, str, str]]:
    """(value, label, comparison) of the headline cards."""
    return [
        (
            display_cell(now["requests_total"]),
            "demandes",
            f"période précédente : {display_cell(before['requests_total'])}",
        ),
        (
            display_cell(now["consultations_done"]),
            "consultations réalisées",
            f"période précédente : {display_cell(before['consultations_done'])}",
        ),
        (
            _pct(now["response_rate"]),
            "taux de réponse",
            f"période précédente : {_pct(before['response_rate'])}",
        ),
        (
            _hours(now["median_delay_hours"]),
            "délai médian demande → rendez-vous",
            f"90e centile : {_hours(now['p90_delay_hours'])}",
        ),
        (
            _pct(now["within_48h_rate"]),
            "vus sous 48 h",
            f"sous 24 h : {_pct(now['within_24h_rate'])}",
        ),
        (
            f"{display_cell(now['slots_used'])} / {display_cell(now['slots_published'])}",
            "créneaux utilisés / publiés",
            f"taux d'utilisation : {_pct(now['slots_use_rate'])}",
        ),
    ]


def _display_rows(table) -> list[list[tuple[str, str]]]:
    """Rows of (text, css class) cells; heat tables get their level class."""
    rows = []
    for r, row in enumerate(table.rows):
        cells = []
        for c, value in enumerate(row):
            css = "num" if isinstance(value, int | float) and not isinstance(value, bool) else ""
            if table.heat is not None and c > 0:
                css += f" heat heat-{table.heat[r][c]}"
            cells.append((display_cell(value), css.strip()))
        rows.append(cells)
    return rows


def _filename(territory: Territory, start: date, end: date, what: str, ext: str) -> str:
    return f"indicateurs-{what}-{ascii_slug(territory.name)}-{start:%Y%m%d}-{end:%Y%m%d}.{ext}"


def _attachment(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require("indicators.view")
def export(request, table: str, fmt: str):
    """One table as CSV or XLSX; `tout` in XLSX: every table, one sheet each."""
    territory, _ = _territory(request)
    try:
        start, end = _period(request.GET)
    except ApplicationError as exc:
        return _bad_request(request, exc.message)
    data = lag_tolerant()(indicators_dashboard)(start=start, end=end, territory=territory)
    tables = dashboard_tables(data)
    if table != "tout":
        tables = [t for t in tables if t.slug == table]
        if not tables:
            raise Http404("Tableau inconnu.")
    elif fmt == "csv":
        raise Http404("L'export CSV se fait tableau par tableau.")
    filename = _filename(territory, start, end, table, fmt)
    if fmt == "csv":
        return _attachment(table_csv(tables[0]), "text/csv; charset=utf-8", filename)
    heading = f"{territory.name} — du {start:%d/%m/%Y} au {end:%d/%m/%Y}"
    return _attachment(tables_xlsx(tables, heading=heading), XLSX, filename)


def _report_context(request):
    territory, choices = _territory(request)
    start, end = _month(request.GET)
    data = lag_tolerant()(indicators_dashboard)(start=start, end=end, territory=territory)
    by_slug = {t.slug: t for t in dashboard_tables(data)}
    tables = [*(by_slug[slug] for slug in REPORT_SLUGS), definitions_table()]
    month = f"{MONTHS[start.month - 1]} {start.year}"
    return {
        "territory": territory,
        "choices": choices,
        "start": start,
        "end": end,
        "month": month,
        "title": f"Rapport mensuel d'activité SNP — {territory.label}",
        "subtitle": f"{month.capitalize()} (du {start:%d/%m/%Y} au {end:%d/%m/%Y})",
        "tables": [(t, _display_rows(t)) for t in tables],
        "raw_tables": tables,
        "generated": timezone.localtime(),
    }


@require("indicators.view")
def report(request):
    try:
        context = _report_context(request)
    except ApplicationError as exc:
        return _bad_request(request, exc.message)
    return render(request, "indicators/report.html", context)


@require("indicators.view")
def report_as_pdf(request):
    try:
        context = _report_context(request)
    except ApplicationError as exc:
        return _bad_request(request, exc.message)
    pdf = report_pdf(
        title=context["title"],
        subtitle=context["subtitle"],
        tables=context["raw_tables"],
        generated=context["generated"],
    )
    territory, start = context["territory"], context["start"]
    filename = f"rapport-ars-{ascii_slug(territory.name)}-{start:%Y-%m}.pdf"
    return _attachment(pdf, "application/pdf", filename)
