"""GET /api/v1/indicators: activity figures of a territory over a period."""

from datetime import date
from uuid import UUID

from ninja import Field, Router, Schema

from relais.accounts.api_auth import require_api
from relais.accounts.permissions import Scope
from relais.indicators.selectors import (
    indicators_compute,
    period_check,
    territory_get_for_scope,
)

router = Router(tags=["indicateurs"])


class ChannelCounts(Schema):
    phone: int = Field(description="Demandes reçues par téléphone.")
    web: int = Field(description="Demandes reçues par le formulaire web.")
    professional: int = Field(description="Demandes adressées par un professionnel de santé.")


class StatusCounts(Schema):
    open: int = Field(description="À orienter.")
    booked: int = Field(description="Rendez-vous pris, pas encore honoré.")
    done: int = Field(description="Patient vu (consultation réalisée).")
    noshow: int = Field(description="Non venu.")
    advice: int = Field(description="Conseil médical.")
    redirected: int = Field(description="Réorienté 15 / urgences.")
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


class IndicatorsOut(Schema):
    start: date = Field(description="Premier jour de la période (heure de Paris), inclus.")
    end: date = Field(description="Dernier jour de la période (heure de Paris), inclus.")
    territory: UUID | None = Field(description="SAS ou CPTS demandé ; null = tout le périmètre.")
    requests_total: int = Field(description="Demandes créées pendant la période.")
    requests_by_channel: ChannelCounts
    consultations_done: int = Field(description="Demandes au statut « patient vu » (done).")
    response_rate: float = Field(
        description="consultations_done / requests_total, arrondi à 4 décimales (0 sans demande)."
    )
    no_shows: int = Field(description="Demandes au statut « non venu » (noshow).")
    no_show_rate: float = Field(
        description="no_shows / (consultations_done + no_shows), 4 décimales (0 si aucun)."
    )
    redirected_to_15: int = Field(description="Demandes réorientées vers le 15 / les urgences.")
    unplaced: int = Field(description="Demandes closes sans solution.")
    requests_by_status: StatusCounts = Field(
        description="Demandes par statut actuel (issue) ; la somme vaut requests_total."
    )
    motifs: dict[str, int] = Field(description="Nombre de demandes par code CISP-2.")
    usable_motifs: int = Field(description="Demandes portant un motif CISP-2.")
    unusable_motifs: int = Field(description="Demandes sans motif CISP-2.")
    booked_requests: int = Field(
        description="Demandes ayant au moins un rendez-vous non annulé (base des délais)."
    )
    median_delay_hours: float | None = Field(
        description=(
            "Délai médian (heures, 2 décimales) entre la création de la demande et le début du "
            "créneau réservé ; null sans demande réservée."
        )
    )
    p90_delay_hours: float | None = Field(
        description="9e décile (percentile continu 0,9) du même délai, en heures ; null sinon."
    )
    within_24h_rate: float = Field(description="Part des demandes réservées vues sous 24 h.")
    within_48h_rate: float = Field(description="Part des demandes réservées vues sous 48 h.")
    professionals_publishing: int = Field(
        description="Professionnels ayant au moins un créneau (non fermé) dans la période."
    )
    professionals_accepted: int = Field(
        description="Professionnels ayant au moins un rendez-vous non annulé sur ces demandes."
    )
    solicited_by_profession: dict[str, int] = Field(
        description="Rendez-vous non annulés par profession du professionnel."
    )
    slots_published: int = Field(
        description="Créneaux non fermés commençant dans la période, dans le territoire."
    )
    slots_used: int = Field(description="Parmi eux, créneaux ayant un rendez-vous non annulé.")
    slots_use_rate: float = Field(description="slots_used / slots_published, 4 décimales.")
    bookings_by_kind: dict[str, int] = Field(
        description="Rendez-vous non annulés par type : slot (créneau publié), surnumeraire, "
        "niveau2."
    )
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
        "(404 sinon) ; absent = tout votre périmètre. Définitions : docs/indicators.md. "
        "Portée de jeton : `indicators:read`."
    ),
)
def indicators(request, start: date, end: date, territory: str | None = None):
    scope = require_api(request, "indicators.view")
    period_check(start=start, end=end)
    territory_filter = _territory_filter(scope, territory)
    figures = indicators_compute(start=start, end=end, **territory_filter)
    from relais.regulation.red_flags import red_flag_question_stats_for

    questions = red_flag_question_stats_for(start=start, end=end, **territory_filter)
    return {**figures, "territory": territory or None, "red_flag_questions": questions}
