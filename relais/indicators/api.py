"""GET /api/v1/indicators: activity figures of a territory over a period."""

from datetime import date
from uuid import UUID

from ninja import Field, Router, Schema

from relais.accounts.api_auth import require_api
from relais.accounts.permissions import Scope
from relais.core.db_routing import lag_tolerant
from relais.indicators.definitions import definition
from relais.indicators.selectors import (
    indicators_by_door,
    indicators_compute,
    indicators_level2,
    indicators_participants,
    period_check,
    territory_get_for_scope,
)

router = Router(tags=["indicateurs"])


class ChannelCounts(Schema):
    phone: int = Field(description="Demandes reçues par téléphone.")
    web: int = Field(description="Demandes reçues par le formulaire web.")
    professional: int = Field(description="Demandes adressées par un professionnel de santé.")


class StatusCounts(Schema):
    # The ten RequestStatus values, as docs/indicators.md lists them (to_regulate and
    # oriented were missing: the API dropped them and the keys did not sum to the total).
    to_regulate: int = Field(description="À réguler (en attente du médecin régulateur).")
    open: int = Field(description="À orienter.")
    booked: int = Field(description="Rendez-vous pris, pas encore honoré.")
    done: int = Field(description="Patient vu (consultation réalisée).")
    noshow: int = Field(description="Non venu.")
    advice: int = Field(description="Conseil médical.")
    redirected: int = Field(description="Réorienté 15 / urgences.")
    oriented: int = Field(description="Orienté ailleurs (PDSA, pharmacie).")
    unplaced: int = Field(description="Sans solution.")
    cancelled: int = Field(description="Annulée.")


class RedFlagQuestionsOut(Schema):
    criterion_id: str = Field(description="Critère du référentiel des signes de gravité.")
    label: str
    asked: int = Field(description="Questions de confirmation posées (réponses enregistrées).")
    confirmed: int = Field(description="Réponses « oui ».")
    denied: int = Field(description="Réponses « non ».")
    unknown: int = Field(description="« Ne sait pas » ou sans réponse.")
    requests: int = Field(description="Demandes concernées.")


class DoorOut(Schema):
    requests: int = Field(description="Demandes arrivées par cette porte.")
    done: int = Field(description="Parmi elles, consultations réalisées.")
    partner: int = Field(description="Parmi elles, rendez-vous pris via un logiciel partenaire.")


class DoorsOut(Schema):
    sas: DoorOut
    cpts_line: DoorOut
    web: DoorOut
    referral: DoorOut


class Level2Out(Schema):
    calls: int = Field(description=definition("level2_calls"))
    requests: int = Field(description="Demandes ayant eu au moins un appel de niveau 2.")
    accepted: int = Field(description=definition("level2_accepted"))
    acceptance_rate: float = Field(description="accepted / calls, 4 décimales.")
    median_hours_to_acceptance: float | None = Field(
        description=definition("level2_median_hours_to_acceptance")
    )
    expired: int = Field(description=definition("level2_expired"))
    cancelled: int = Field(description="Appels annulés.")
    open: int = Field(description="Appels encore ouverts.")
    unplaced_requests: int = Field(description=definition("level2_unplaced_requests"))


class ParticipantOut(Schema):
    # One row of the dashboard's "Médecins participants" table (same selector, same order).
    name: str = Field(description="Nom affiché du médecin.")
    rpps: str = Field(description="Numéro RPPS.")
    sas_participant: bool = Field(description="Inscrit au SAS (niveau 1).")
    slots_published: int = Field(description="Créneaux non fermés commençant dans la période.")
    hours_published: float = Field(description="Heures de ces créneaux (une plage une fois).")
    weeks: int = Field(description="Semaines ISO touchées par la période.")
    weeks_with_min_hours: int = Field(
        description="Parmi elles, semaines entières avec au moins les heures du forfait SAS "
        "publiées (2 h par défaut, réglage du SAS)."
    )
    declares_two_hours: bool = Field(description="Déclare au moins 2 h par semaine au SAS.")
    patients_seen: int = Field(description="Rendez-vous honorés dans la période.")
    no_shows: int = Field(description="Non venus dans la période.")
    majorations_due: int = Field(
        description="Majorations SNP dues (plafond hebdomadaire de la semaine ISO)."
    )
    majorations_amount: float = Field(description="Montant de ces majorations (€).")


class IndicatorsOut(Schema):
    start: date = Field(description="Premier jour de la période (heure de Paris), inclus.")
    end: date = Field(description="Dernier jour de la période (heure de Paris), inclus.")
    territory: UUID | None = Field(description="SAS ou CPTS demandé ; null = tout le périmètre.")
    requests_total: int = Field(description=definition("requests_total"))
    requests_by_channel: ChannelCounts
    consultations_done: int = Field(description=definition("consultations_done"))
    response_rate: float = Field(description=definition("response_rate"))
    no_shows: int = Field(description=definition("no_shows"))
    no_show_rate: float = Field(description=definition("no_show_rate"))
    redirected_to_15: int = Field(description=definition("redirected_to_15"))
    unplaced: int = Field(description=definition("unplaced"))
    requests_by_status: StatusCounts = Field(
        description="Demandes par statut actuel (issue) ; la somme vaut requests_total."
    )
    motifs: dict[str, int] = Field(description="Nombre de demandes par code CISP-2.")
    usable_motifs: int = Field(description=definition("usable_motifs"))
    unusable_motifs: int = Field(description=definition("unusable_motifs"))
    booked_requests: int = Field(description=definition("booked_requests"))
    seen_requests: int = Field(description=definition("seen_requests"))
    median_delay_hours: float | None = Field(description=definition("median_delay_hours"))
    p90_delay_hours: float | None = Field(description=definition("p90_delay_hours"))
    within_24h_rate: float = Field(description=definition("within_24h_rate"))
    within_48h_rate: float = Field(description=definition("within_48h_rate"))
    professionals_publishing: int = Field(description=definition("professionals_publishing"))
    professionals_accepted: int = Field(description=definition("professionals_accepted"))
    solicited_by_profession: dict[str, int] = Field(
        description="Rendez-vous non annulés par profession du professionnel."
    )
    slots_published: int = Field(description=definition("slots_published"))
    slots_used: int = Field(description=definition("slots_used"))
    slots_use_rate: float = Field(description=definition("slots_use_rate"))
    bookings_by_kind: dict[str, int] = Field(
        description="Rendez-vous non annulés par type : slot (créneau publié), surnumeraire, "
        "niveau2."
    )
    requests_by_door: DoorsOut = Field(description=definition("requests_by_door"))
    level2: Level2Out = Field(description="Niveau 2 : appels aux volontaires de la CPTS.")
    participants: list[ParticipantOut] = Field(description=definition("participants"))
    red_flag_questions: list[RedFlagQuestionsOut] = Field(
        description="Questions de confirmation des signes de gravité posées à l'accueil "
        "(téléphone, formulaire web, adressage), par critère (issue 15)."
    )


def _territory_filter(scope: Scope, territory: str | None) -> dict:
    """The selector's territory arguments; 404 for a territory outside the caller's scope
    (unknown, malformed and out-of-scope identifiers alike: no existence leak)."""
    if not territory:
        return {"sas_ids": scope.sas_ids, "cpts_ids": scope.cpts_ids}
    return territory_get_for_scope(scope=scope, public_id=territory).filter


@router.get(
    "",
    response=IndicatorsOut,
    summary="Indicateurs d'activité d'un territoire sur une période",
    description=(
        "Période en dates locales (Europe/Paris), bornes incluses, 400 jours au plus. "
        "`territory` : identifiant public d'un SAS ou d'une CPTS de votre périmètre "
        "(404 sinon) ; absent = tout votre périmètre. Chaque champ porte sa définition, "
        "la même que sur le tableau de bord. "
        "Portée de jeton : `indicators:read`."
    ),
)
def indicators(request, start: date, end: date, territory: str | None = None):
    scope = require_api(request, "indicators.view")
    period_check(start=start, end=end)
    territory_filter = _territory_filter(scope, territory)
    figures = lag_tolerant()(indicators_compute)(start=start, end=end, **territory_filter)
    figures["requests_by_door"] = lag_tolerant()(indicators_by_door)(
        start=start, end=end, **territory_filter
    )
    figures["level2"] = lag_tolerant()(indicators_level2)(start=start, end=end, **territory_filter)
    figures["participants"] = lag_tolerant()(indicators_participants)(
        start=start, end=end, **territory_filter
    )
    from relais.regulation.red_flags import red_flag_question_stats_for

    questions = red_flag_question_stats_for(start=start, end=end, **territory_filter)
    return {**figures, "territory": territory or None, "red_flag_questions": questions}
