"""The dashboard's figures as tables: one definition shown in the page (under each chart),
exported as CSV and XLSX, and printed in the ARS report (HTML and PDF).

Cells are int, float, str, date or None; rates are shown in percent (column or row label
says "(%)"), delays in hours. Django-free: it only reshapes what the selectors computed.
"""

import math
from dataclasses import dataclass, field
from datetime import date

from relais.directory.models import Profession
from relais.indicators.definitions import (
    DEFINITIONS,
    DOORS,
    RATE_KEYS,
    SUMMARY_KEYS,
    definition,
    label,
)
from relais.orientation.models import BookingKind
from relais.regulation.models import Channel, RequestStatus

WEEKDAYS = ["Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche"]
HEAT_LEVELS = 5

# Outcomes in the order a coordinator reads them; every status appears once.
OUTCOMES = [
    (RequestStatus.DONE, "Consultation réalisée"),
    (RequestStatus.ADVICE, "Conseil médical"),
    (RequestStatus.NOSHOW, "Non venu"),
    (RequestStatus.CANCELLED, "Annulé"),
    (RequestStatus.REDIRECTED, "Réorienté 15 / urgences"),
    (RequestStatus.ORIENTED, "Orienté ailleurs (PDSA, pharmacie)"),
    (RequestStatus.UNPLACED, "Sans solution"),
    (RequestStatus.BOOKED, "Rendez-vous à venir"),
    (RequestStatus.OPEN, "À orienter"),
    (RequestStatus.TO_REGULATE, "À réguler"),
]


@dataclass
class DataTable:
    slug: str
    title: str
    columns: list[str]
    rows: list[list]
    note: str = ""
    # Chart drawn above the table: {"type": "bar" | "line", "series": [column index, ...],
    # "limit": first rows only (optional)}, labels from the first column.
    chart: dict | None = None
    # Heat tables: a CSS level (0..HEAT_LEVELS) per numeric cell.
    heat: list[list[int]] | None = field(default=None)
    # The XLSX sheet's name (at most 31 characters, Excel's limit); the title otherwise.
    sheet: str = ""
    # Said next to the chart only (the dashboard): the exports and the report have none.
    chart_note: str = ""

    def chart_config(self) -> dict | None:
        if self.chart is None:
            return None
        rows = self.rows[: self.chart.get("limit")]
        labels = [_label(row[0]) for row in rows]
        return {
            "id": self.slug,
            "type": self.chart["type"],
            "title": self.title,
            "labels": labels,
            "datasets": [
                {"label": self.columns[i], "data": [row[i] for row in rows]}
                for i in self.chart["series"]
            ],
        }


def _label(value) -> str:
    return value.strftime("%d/%m/%Y") if isinstance(value, date) else str(value)


def _pct(rate: float | None) -> float | None:
    """A 0..1 rate (4 decimals) as a percentage with 2 decimals."""
    return None if rate is None else round(rate * 100, 2)


def _share(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def _delta(now, before):
    if now is None or before is None:
        return None
    return (
        round(now - before, 2)
        if isinstance(now, float) or isinstance(before, float)
        else (now - before)
    )


def summary_rows(figures: dict) -> list[tuple[str, object]]:
    """(label, value) of the key figures of indicators_compute; labels and definitions in
    relais.indicators.definitions (the same in the page, the API and the docs)."""
    return [
        (label(key), _pct(figures[key]) if key in RATE_KEYS else figures[key])
        for key in SUMMARY_KEYS
    ]


def _heat_levels(grid: list[list[int]]) -> list[list[int]]:
    top = max((n for row in grid for n in row), default=0)
    if not top:
        return [[0] * len(row) for row in grid]
    return [[math.ceil(HEAT_LEVELS * n / top) for n in row] for row in grid]


def _heat_table(
    slug: str, title: str, grid: list[list[int]], note: str, sheet: str = ""
) -> DataTable:
    rows = [[WEEKDAYS[i], *grid[i]] for i in range(7)]
    levels = [[0, *row] for row in _heat_levels(grid)]
    return DataTable(
        slug,
        title,
        ["Jour", *(f"{h} h" for h in range(24))],
        rows,
        note=note,
        heat=levels,
        sheet=sheet,
    )


def dashboard_tables(data: dict) -> list[DataTable]:
    """Every table of the dashboard, in page order (the exports use the same slugs)."""
    now, before = data["current"], data["previous"]
    total = now["requests_total"]
    summary_before = dict(summary_rows(before))
    summary = DataTable(
        "synthese",
        "Chiffres clés",
        ["Indicateur", "Période", "Période précédente", "Évolution"],
        [
            [label, value, summary_before[label], _delta(value, summary_before[label])]
            for label, value in summary_rows(now)
        ],
        note=(
            f"Période précédente : du {before['start']:%d/%m/%Y} au {before['end']:%d/%m/%Y}. "
            "Évolution en nombre, en heures ou en points de pourcentage."
        ),
    )
    channels = DataTable(
        "canaux",
        "Demandes par canal",
        ["Canal", "Demandes", "Part (%)"],
        [
            [
                label,
                now["requests_by_channel"][value],
                _share(now["requests_by_channel"][value], total),
            ]
            for value, label in Channel.choices
        ],
        chart={"type": "bar", "series": [1]},
        sheet="Demandes par canal",
    )
    outcomes = DataTable(
        "issues",
        "Demandes par issue",
        ["Issue", "Demandes", "Part (%)"],
        [
            [
                label,
                now["requests_by_status"][status],
                _share(now["requests_by_status"][status], total),
            ]
            for status, label in OUTCOMES
        ],
        chart={"type": "bar", "series": [1]},
        note="Statut actuel des demandes de la période.",
        sheet="Demandes par issue",
    )
    usable = now["usable_motifs"]
    motif_rows = sorted(now["motifs"].items(), key=lambda item: (-item[1], item[0]))
    motifs = DataTable(
        "motifs",
        "Demandes par motif (CISP-2)",
        ["Code CISP-2", "Libellé", "Demandes", "Part des motifs renseignés (%)"],
        [[code, data["motif_labels"].get(code, ""), n, _share(n, usable)] for code, n in motif_rows]
        + [["—", "Sans motif CISP-2", now["unusable_motifs"], None]],
        chart_note="Dix premiers motifs sur le graphique ; tous dans le tableau.",
        chart={"type": "bar", "series": [2], "limit": 10},
        sheet="Motifs CISP-2",
    )
    professions = DataTable(
        "professions",
        "Professionnels sollicités (rendez-vous non annulés) par profession",
        ["Profession", "Rendez-vous"],
        [[label, now["solicited_by_profession"][value]] for value, label in Profession.choices],
        chart={"type": "bar", "series": [1]},
        sheet="Sollicités par profession",
    )
    kinds = DataTable(
        "placements",
        "Rendez-vous par type de placement",
        ["Type", "Rendez-vous"],
        [[label, now["bookings_by_kind"][value]] for value, label in BookingKind.choices],
        chart={"type": "bar", "series": [1]},
        sheet="Rendez-vous par placement",
    )
    daily = DataTable(
        "jours",
        "Série quotidienne",
        ["Date", "Demandes", "Consultations réalisées", "Créneaux publiés", "Créneaux utilisés"],
        [
            [d["day"], d["requests"], d["done"], d["slots_published"], d["slots_used"]]
            for d in data["daily"]
        ],
        chart={"type": "line", "series": [1, 2, 3, 4]},
    )
    weekly = DataTable(
        "semaines",
        "Série hebdomadaire",
        [
            "Semaine du",
            "Jours dans la période",
            "Demandes",
            "Consultations réalisées",
            "Créneaux publiés",
            "Créneaux utilisés",
        ],
        [
            [w["week"], w["days"], w["requests"], w["done"], w["slots_published"], w["slots_used"]]
            for w in data["weekly"]
        ],
        chart={"type": "bar", "series": [2, 3, 4, 5]},
    )
    demand = _heat_table(
        "demande_heure",
        "Demande : demandes reçues par jour et heure",
        data["heatmap"]["demand"],
        "Heure de Paris de la création de la demande.",
        sheet="Demande par jour et heure",
    )
    supply = _heat_table(
        "offre_heure",
        "Offre : créneaux publiés par jour et heure",
        data["heatmap"]["supply"],
        "Heure de Paris du début du créneau (créneaux non fermés).",
        sheet="Offre par jour et heure",
    )
    doors = door_table(data["doors"], total)
    level2 = level2_table(data["level2"])
    return [
        summary,
        participants_table(data["participants"]),
        doors,
        level2,
        channels,
        outcomes,
        motifs,
        professions,
        kinds,
        daily,
        weekly,
        demand,
        supply,
        contract_table(data["contract"]),
    ]


def contract_table(contract: dict) -> DataTable:
    return DataTable(
        "contrat",
        "Indicateurs du contrat CPTS (mission SAS)",
        ["Indicateur", "Valeur"],
        [
            ["Médecins du territoire", contract["doctors_total"]],
            ["Médecins participant au SAS", contract["doctors_sas_participants"]],
            [
                "Part des médecins participant au SAS (%)",
                _pct(contract["doctors_sas_participation_rate"]),
            ],
            ["Médecins volontaires niveau 2 (CPTS)", contract["doctors_level2"]],
            [
                "Médecins acceptant des patients en surnuméraire",
                contract["doctors_accepting_surnumeraire"],
            ],
            ["Médecins ayant publié des créneaux dans la période", contract["doctors_publishing"]],
            [
                "Demandes SAS ayant abouti à un rendez-vous via la CPTS",
                contract["requests_with_cpts_appointment"],
            ],
            [
                "Part des demandes ayant abouti à un rendez-vous via la CPTS (%)",
                _pct(contract["requests_with_cpts_appointment_rate"]),
            ],
            [
                label("consultations_done_via_cpts"),
                contract["consultations_done_via_cpts"],
            ],
        ],
        sheet="Contrat CPTS (mission SAS)",
    )


def door_table(doors: dict, total: int) -> DataTable:
    return DataTable(
        "portes",
        label("requests_by_door"),
        [
            "Porte d'entrée",
            "Demandes",
            "Part (%)",
            "Consultations réalisées",
            "Dont logiciel partenaire",
        ],
        [
            [
                name,
                doors[key]["requests"],
                _share(doors[key]["requests"], total),
                doors[key]["done"],
                doors[key]["partner"],
            ]
            for key, name in DOORS
        ],
        sheet="Demandes par porte d'entrée",
    )


def participants_table(rows: list[dict]) -> DataTable:
    return DataTable(
        "participants",
        label("participants"),
        [
            "Médecin",
            "RPPS",
            "Participant SAS",
            "Créneaux publiés",
            "Heures publiées",
            "Semaines avec 2 h publiées",
            "Déclare 2 h par semaine",
            "Patients vus",
            "Non venus",
            "Majorations dues",
            "Montant des majorations (€)",
        ],
        [
            [
                r["name"],
                r["rpps"],
                r["sas_participant"],
                r["slots_published"],
                r["hours_published"],
                f"{r['weeks_with_min_hours']} sur {r['weeks']}",
                r["declares_two_hours"],
                r["patients_seen"],
                r["no_shows"],
                r["majorations_due"],
                r["majorations_amount"],
            ]
            for r in rows
        ],
        note=definition("participants"),
        sheet="Médecins participants",
    )


def level2_table(level2: dict) -> DataTable:
    return DataTable(
        "niveau2",
        "Niveau 2 (volontaires de la CPTS)",
        ["Indicateur", "Valeur"],
        [
            [label("level2_calls"), level2["calls"]],
            [label("level2_accepted"), level2["accepted"]],
            ["Taux d'acceptation (%)", _pct(level2["acceptance_rate"])],
            [label("level2_median_hours_to_acceptance"), level2["median_hours_to_acceptance"]],
            [label("level2_expired"), level2["expired"]],
            [label("level2_unplaced_requests"), level2["unplaced_requests"]],
        ],
        sheet="Niveau 2",
    )


GLOSSARY_KEYS = [
    *SUMMARY_KEYS,
    "consultations_done_via_cpts",
    "participants",
    "requests_by_door",
    "level2_calls",
    "level2_accepted",
    "level2_median_hours_to_acceptance",
    "level2_expired",
    "level2_unplaced_requests",
]


def glossary() -> list[tuple[str, str]]:
    """(label, definition) of every key figure, in page order."""
    return [DEFINITIONS[key] for key in GLOSSARY_KEYS]


def definitions_table() -> DataTable:
    return DataTable(
        "definitions", "Définitions", ["Indicateur", "Définition"], [list(t) for t in glossary()]
    )


REPORT_SLUGS = [
    "contrat",
    "synthese",
    "participants",
    "portes",
    "niveau2",
    "canaux",
    "issues",
    "motifs",
    "professions",
    "placements",
    "semaines",
]
