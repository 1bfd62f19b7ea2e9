"""The one wording of every indicator: its label and its definition, in French.

Shown on the dashboard (the "Définitions" glossary, and as the title of each key figure),
used as the field descriptions of GET /api/v1/indicators (OpenAPI), and copied verbatim
in docs/indicators.md ("Definitions"); tests/indicators/test_definitions.py checks the
three say the same. Keys are the API field names.
"""

DEFINITIONS: dict[str, tuple[str, str]] = {
    "requests_total": (
        "Demandes",
        "Demandes créées pendant la période (date de création, heure de Paris), dans le "
        "territoire.",
    ),
    "consultations_done": (
        "Consultations réalisées",
        "Demandes dont le patient a été vu : statut actuel « consultation réalisée », quel "
        "que soit le professionnel (de la CPTS ou non).",
    ),
    "consultations_done_via_cpts": (
        "Consultations réalisées par un effecteur de la CPTS",
        "Parmi les consultations réalisées, celles dont le rendez-vous était pris chez un "
        "professionnel membre de la CPTS (rapport CPTS) ou d'une CPTS du SAS (rapport SAS).",
    ),
    "response_rate": (
        "Taux de réponse (%)",
        "Consultations réalisées / demandes.",
    ),
    "no_shows": (
        "Non venus",
        "Demandes au statut actuel « non venu » : rendez-vous pris, patient absent.",
    ),
    "no_show_rate": (
        "Taux de non-venue (%)",
        "Non venus / (consultations réalisées + non venus).",
    ),
    "redirected_to_15": (
        "Réorientés 15 / urgences",
        "Demandes réorientées vers le 15 ou les urgences.",
    ),
    "unplaced": (
        "Sans solution",
        "Demandes closes sans solution de prise en charge.",
    ),
    "booked_requests": (
        "Demandes avec rendez-vous",
        "Demandes ayant au moins un rendez-vous non annulé (à venir, honoré ou non venu) : "
        "base des délais.",
    ),
    "seen_requests": (
        "Demandes avec patient vu",
        "Demandes ayant un rendez-vous honoré (patient vu) : base des taux « vus sous 24 h » "
        "et « vus sous 48 h ».",
    ),
    "median_delay_hours": (
        "Délai médian demande → rendez-vous (h)",
        "Médiane, en heures, du délai entre la création de la demande et le début de son "
        "premier rendez-vous non annulé, sur les demandes avec rendez-vous.",
    ),
    "p90_delay_hours": (
        "Délai 90e centile (h)",
        "90e centile du même délai : 9 demandes avec rendez-vous sur 10 l'ont eu plus tôt.",
    ),
    "within_24h_rate": (
        "Vus sous 24 h (%)",
        "Demandes dont le patient a été vu (rendez-vous honoré) moins de 24 h après la "
        "demande / demandes avec patient vu. Les non venus et les rendez-vous à venir "
        "n'y comptent pas.",
    ),
    "within_48h_rate": (
        "Vus sous 48 h (%)",
        "Même calcul à 48 h.",
    ),
    "usable_motifs": (
        "Motifs CISP-2 renseignés",
        "Demandes portant un motif codé CISP-2.",
    ),
    "unusable_motifs": (
        "Sans motif CISP-2",
        "Demandes sans motif codé (texte libre seulement).",
    ),
    "professionals_publishing": (
        "Professionnels publiant des créneaux",
        "Professionnels ayant au moins un créneau non fermé commençant dans la période, "
        "dans le territoire (lieu de consultation ou CPTS).",
    ),
    "professionals_accepted": (
        "Professionnels ayant pris au moins un patient",
        "Professionnels ayant au moins un rendez-vous non annulé pour une demande de la "
        "période, sur un créneau publié, en surnuméraire ou en niveau 2, où qu'ils exercent : "
        "ils peuvent donc être plus nombreux que les professionnels publiant des créneaux.",
    ),
    "slots_published": (
        "Créneaux publiés",
        "Créneaux non fermés commençant dans la période, dans le territoire.",
    ),
    "slots_used": (
        "Créneaux utilisés",
        "Parmi eux, créneaux ayant un rendez-vous non annulé.",
    ),
    "slots_use_rate": (
        "Taux d'utilisation des créneaux (%)",
        "Créneaux utilisés / créneaux publiés.",
    ),
    "participants": (
        "Médecins participants",
        "Médecins du territoire participant au SAS, volontaires de niveau 2 ou ayant publié "
        "un créneau dans la période : créneaux et heures publiés, semaines de la période avec "
        "au moins 2 h publiées (semaines entières, condition du forfait SAS) face à la "
        "déclaration « 2 h par semaine », patients vus, non venus, et majorations SNP dues "
        "(au plus 20 par semaine ISO, même à cheval sur deux périodes), comme le relevé de "
        "participation.",
    ),
    "requests_by_door": (
        "Demandes par porte d'entrée",
        "SAS (15 / 116 117) : demande téléphonique prise par un opérateur, un ARM ou un "
        "régulateur du SAS, ou arrivée par l'API ; ligne de la CPTS : prise par une personne "
        "n'ayant qu'un rôle CPTS ; formulaire web ; adressage par un professionnel. « Dont "
        "logiciel partenaire » : rendez-vous non annulé pris dans le logiciel d'un partenaire.",
    ),
    "level2_calls": (
        "Appels de niveau 2",
        "Appels lancés aux volontaires de la CPTS pour les demandes de la période.",
    ),
    "level2_accepted": (
        "Appels de niveau 2 acceptés",
        "Appels qu'un volontaire a acceptés (il a pris le patient).",
    ),
    "level2_median_hours_to_acceptance": (
        "Délai médian jusqu'à l'acceptation (h)",
        "Médiane, en heures, entre le lancement de l'appel et son acceptation.",
    ),
    "level2_expired": (
        "Appels de niveau 2 sans réponse",
        "Appels arrivés à échéance sans qu'aucun volontaire ne les accepte.",
    ),
    "level2_unplaced_requests": (
        "Demandes sans solution après un appel de niveau 2",
        "Demandes ayant eu un appel de niveau 2 et closes sans solution.",
    ),
}


# The doors a request comes in by (selectors.indicators_by_door), in table order.
DOORS = [
    ("sas", "SAS (15 / 116 117)"),
    ("cpts_line", "Ligne de la CPTS"),
    ("web", "Formulaire web"),
    ("referral", "Adressage par un professionnel"),
]


def label(key: str) -> str:
    return DEFINITIONS[key][0]


def definition(key: str) -> str:
    return DEFINITIONS[key][1]


# The key figures of the dashboard, in page order (tables.summary_rows).
SUMMARY_KEYS = [
    "requests_total",
    "consultations_done",
    "response_rate",
    "no_shows",
    "no_show_rate",
    "redirected_to_15",
    "unplaced",
    "booked_requests",
    "seen_requests",
    "median_delay_hours",
    "p90_delay_hours",
    "within_24h_rate",
    "within_48h_rate",
    "usable_motifs",
    "unusable_motifs",
    "professionals_publishing",
    "professionals_accepted",
    "slots_published",
    "slots_used",
    "slots_use_rate",
]
RATE_KEYS = {k for k in SUMMARY_KEYS if k.endswith("_rate")}
