"""Code what a caller says into CISP-2 motifs and spot red flags.

Django-free on purpose (it imports nothing from Django or from other relais modules), so
that views, the API, management commands and tests can all use it without settings.

How it works, in short:
- the text is folded (case, accents), cut into clauses at punctuation, SMS abbreviations
  are expanded and unknown words are corrected against the lexicon vocabulary (a
  SymSpell-style deletion index plus a rough French phonetic key, stdlib only);
- a lexicon (data/synonyms.csv) maps short expressions to motif codes; red-flag rules
  (below, in code, because they are the clinical-safety part) use the same syntax;
- negation cues ("pas de", "sans", "ni", "ne ... plus") blank out the few words that
  follow them inside their clause, so "pas de douleur thoracique mais essoufflé" still
  raises the breathing flag. Expressions that contain a cue themselves ("n'arrive plus à
  respirer", "ne peut plus parler") are matched first and protected from negation.
"""

from __future__ import annotations

import bisect
import csv
import functools
import itertools
import re
import statistics
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
MOTIFS_CSV = DATA_DIR / "motifs-cisp2.csv"
SYNONYMS_CSV = DATA_DIR / "synonyms.csv"


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class Motif:
    code: str
    label: str
    chapter: str
    refer_to_15: bool


@dataclass(frozen=True)
class Suggestion:
    code: str
    label: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    suggestions: list[Suggestion]
    red_flag: bool
    red_flag_reasons: list[str]


def load_motifs(path: str | Path | None = None) -> list[Motif]:
    """Read the motif list (columns code,label_fr,chapitre,orienter_vers_15)."""
    csv_path = Path(path) if path is not None else MOTIFS_CSV
    with csv_path.open(encoding="utf-8", newline="") as handle:
        return [
            Motif(
                code=row["code"].strip(),
                label=row["label_fr"].strip(),
                chapter=row["chapitre"].strip(),
                refer_to_15=row["orienter_vers_15"].strip().lower() == "oui",
            )
            for row in csv.DictReader(handle)
            if row.get("code", "").strip()
        ]


def _fold(text: str) -> str:
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Lowercase, strip accents, turn punctuation into spaces and collapse whitespace."""
    return " ".join(re.findall(r"[a-z0-9]+", _fold(text)))


# --------------------------------------------------------------------------- word lists


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Dropped from expressions when compiling; allowed between the words of an ordered
# expression ("du mal à respirer" matches "mal respir*").
_FILLERS = _words(
    """
    le la les l un une des du de d a au aux en dans sur sous par pour avec qui que qu quoi
    se s me m te t y lui leur leurs son sa ses mon ma mes ton tes ce c ca cela ceci cet cette
    il elle on je j tu nous vous ils elles ne n est et tres trop vraiment super si peu assez
    niveau tout toute tous toutes fait fais font faire ai as ont suis sont etait
    """
)

# Words that carry no symptom: ignored when measuring how much of the text a motif explains.
_NONCONTENT = _FILLERS | _words(
    """
    depuis hier aujourdhui aujourd hui matin soir soiree nuit nuits jour jours journee semaine
    semaines sem mois an ans annee heure heures h min minute minutes mn fois maintenant demain
    bonjour bonsoir merci svp stp allo madame monsieur docteur medecin oui non ok voila bon ben
    euh alors donc puis mais car parce comme quand encore deja toujours aussi ici sensation
    avoir etre avait avais va vais plus pas ni sans beaucoup bien un deux trois quatre cinq
    enfant bebe fils fille mari femme mere pere patient patiente ma mon
    """
)

# Common words that must never be "corrected" into a symptom.
_COMMON_WORDS = _words(
    """
    a ai as avait avais avaient avez avons ont eu eue eus aura aurait suis es est sommes etes
    sont etait etais etaient ete sera serait etre fait fais faire font faisait fera refait va
    vais vont allait aller alle allee alles venir vient viens venu revenu peut peux pouvait
    pourrait pouvoir peuvent veut veux voulait voudrait vouloir dit dire disait dis raconte
    sait sais savoir voit vois voir vu prend prends prendre pris prise met mets mettre mis
    passe passer passait passee reste rester sent sens sentir senti mange manger mangeait
    mangé boit boire bu buvait dort dors dormir dormi parle parler parlait marche marcher
    marchait joue jouer jouait pleure pleurer pleurait lever leve levait appelle appeler
    appel appele attend attendre trouve trouver semble sembler continue continuer commence
    commencer arrive arriver arrivait donne donner essaye essayer essaie pense penser crois
    croire besoin envie peur porte porter porté oublie oublié oublier tient tiens retourne
    regarde regarder sortir sorti rentre rentrer monte monter descend descendre travaille
    bien mal mieux pire plus moins tres trop peu assez encore deja toujours jamais souvent
    parfois rien tout aussi ainsi comme quand lorsque avant apres pendant depuis vers chez
    entre sous sans avec contre pour par dans sur oui non si alors donc puis mais car parce
    quoi comment pourquoi combien ici dehors dedans quelques quelque chose autre autres meme
    mari femme epouse epoux fils fille filles enfant enfants bebe bebes nourrisson papa
    maman pere mere parents frere soeur grand grands mamie papi papy tante oncle cousin
    cousine neveu niece voisin voisine ami amie collegue copain copine patient patiente dame
    monsieur madame homme personne gens famille garcon gamin gamine petit petite petits
    maison travail ecole creche boulot bureau cuisine salle bain chambre escalier escaliers
    rue voiture velo moto route magasin supermarche pharmacie pharmacien hopital urgences
    urgence medecin docteur generaliste traitement medicament medicaments doliprane dafalgan
    efferalgan paracetamol ibuprofene advil nurofen aspirine antibiotique antibiotiques
    smecta spasfon gaviscon ventoline pilule creme sirop rendez vous consultation
    ordonnance telephone portable lit canape table chaise fenetre jardin jardinant sport
    foot football match ski piscine plage vacances repas meuble train voisin cacahuetes
    un deux trois quatre cinq six sept huit neuf dix douze quinze vingt trente quarante
    cent premier premiere dernier derniere demi grande gros grosse nouveau nouvelle vieux
    vieille jeune age agee normal normale normalement bizarre etrange fort forte leger
    legere grave important importante droite gauche droit haut bas rouge blanc noir jaune
    vert bleu chaud froid sec seche matin soir nuit journee semaine semaines heure heures
    minute minutes jours mois annee hier demain maintenant bonjour merci probleme
    problemes symptome symptomes signe signes moment moments coup fond cote partout
    gras grasse grasses positif positive negatif mieux passe passait baisse monte lendemain
    demande demander demandé demandes appelant souhaite souhaiterait voudrais aimerait
    rappeler rappel conseil conseils avis question questions renseignement information
    dispo disponible creneau consulter visite domicile teleconsultation mutuelle vitale
    contre indication mme mr adulte ado adolescent adolescente fumeur fumeuse retraite
    ehpad seul seule geint gemit garder reveil reveille cuisinant descendant trottoir
    ce cette ces celui
    celle elle elles ils nous vous leur leurs notre votre nos vos mes tes ses mon ton son
    quand que qui quoi dont ou
    """
)

# Short forms and SMS spellings, expanded before anything else.
_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "bcp": ("beaucoup",),
    "bcq": ("beaucoup",),
    "ds": ("dans",),
    "pr": ("pour",),
    "pdt": ("pendant",),
    "qq": ("quelques",),
    "qd": ("quand",),
    "kan": ("quand",),
    "ke": ("que",),
    "koi": ("quoi",),
    "kil": ("qu", "il"),
    "ac": ("avec",),
    "tjs": ("toujours",),
    "tjrs": ("toujours",),
    "ss": ("sans",),
    "pb": ("probleme",),
    "pbm": ("probleme",),
    "pblm": ("probleme",),
    "tt": ("tout",),
    "tte": ("toute",),
    "mm": ("meme",),
    "nn": ("non",),
    "ya": ("il", "y", "a"),
    "g": ("j", "ai"),
    "jai": ("j", "ai"),
    "jsuis": ("je", "suis"),
    "jsui": ("je", "suis"),
    "chui": ("je", "suis"),
    "chuis": ("je", "suis"),
    "jarrive": ("j", "arrive"),
    "jpeux": ("je", "peux"),
    "jpeu": ("je", "peux"),
    "jme": ("je", "me"),
    "ct": ("c", "etait"),
    "bb": ("bebe",),
    "bebes": ("bebe",),
    "nrs": ("nourrisson",),
    "pc": ("perte", "connaissance"),
    "pdc": ("perte", "connaissance"),
    "dlr": ("douleur",),
    "dlrs": ("douleurs",),
    "doul": ("douleur",),
    "tps": ("temps",),
    "mn": ("minutes",),
    "mins": ("minutes",),
    "o": ("au",),
    "n": ("ne",),
    "maux": ("mal",),
    "tou": ("toux",),
    "ptit": ("petit",),
    "pti": ("petit",),
    "vrmt": ("vraiment",),
    "mtn": ("maintenant",),
    "auj": ("aujourdhui",),
    "ajd": ("aujourdhui",),
    "temp": ("temperature",),
    "tempe": ("temperature",),
    "spo": ("saturation",),
    "sat": ("saturation",),
    "sature": ("saturation",),
    "oeils": ("oeil",),
    "gastroenterite": ("gastro", "enterite"),
}

# Multi-word phrases folded into one token before matching.
_PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("tout", "d", "un", "coup"): ("soudain",),
    ("d", "un", "coup"): ("soudain",),
    ("du", "jour", "au", "lendemain"): ("soudain",),
    ("n", "importe", "quoi"): ("nimportequoi",),
    ("nouveau", "ne"): ("nouveaune",),
    ("nouveau", "nes"): ("nouveaune",),
    ("nouveau", "nee"): ("nouveaune",),
    ("nne",): ("nouveaune",),
    ("haut", "le", "coeur"): ("nausee",),
    ("mal", "etre"): ("maletre",),
    ("burn", "out"): ("burnout",),
    ("tonico", "clonique"): ("tonicoclonique",),
    ("pas", "mal", "de"): ("beaucoup", "de"),
    ("pas", "mal", "d"): ("beaucoup", "de"),
    ("sans", "arret"): ("souvent",),
    ("sans", "cesse"): ("souvent",),
    ("spo", "2"): ("saturation",),
    ("une", "ts"): ("une", "tentative", "suicide"),
    ("ts", "medicamenteuse"): ("tentative", "suicide", "medicamenteuse"),
    ("ts", "par"): ("tentative", "suicide", "par"),
}

_NEGATION_CUES = frozenset({"pas", "sans", "aucun", "aucune", "ni", "jamais", "absence", "nie"})
_CONDITIONAL_CUES = frozenset({"plus"})  # a cue only after "ne" ("n'a plus de fièvre")
_ALL_CUES = _NEGATION_CUES | _CONDITIONAL_CUES
_SCOPE_BREAKERS = _words(
    """
    mais contre cependant pourtant sauf juste seulement plutot puis car donc alors ensuite
    je j il elle on ils elles nous vous tu
    """
)
_PILLS = ("comprime", "cachet", "gelule", "pilule", "doliprane", "plaquette", "boite")
_INFLECTIONS = ("e", "es", "s", "ee", "ees", "er", "ement", "ent")
_NEGATION_SCOPE = 3  # content words a cue can blank out
_DURATION_WORDS = frozenset({"depuis", "pendant", "dans", "il", "y"})
_UNIT_WORDS = _words(
    "ans an kg kilos mois semaines semaine sem jours jour j min minutes mn h heures heure fois "
    "sa cm mg ml g euros"
)


# --------------------------------------------------------------------------- red flags

# (reason, expressions). Same syntax as synonyms.csv. Kept in code: these are reviewed
# as clinical-safety logic, not tuned like the lexicon.
_FEVER = "fievr*|fiévr*|febri*|fébri*|hyperthermi*|temperature"
_RED_FLAG_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Douleur thoracique",
        (
            "douleur*|doulour*|mal|oppression|serre|serré*|serrement|barre|poids|étau|brûlure*|"
            "pique|point|écrase* thora*|poitrine|sternum|rétrosternal*",
            "thoracique",
            "douleur*|doulour* coeur|cardiaque*",
            "infarctus|angor",
            "crise cardiaque",
            "=angine de poitrine",
        ),
    ),
    (
        "Difficulté respiratoire",
        (
            "dyspn*|essouf*|étouff*|suffoqu*|asphyx*",
            "=respir* difficil*|mal|vite|fort|bizarre|bruyant|saccad*",
            "=difficult*|difficile|mal|gêne|gêné|impossible respir*",
            "manque air|souffle",
            "souffle court|coupé",
            "arrive plus|pas respir*|reprendre",
            "peut plus|pas respir*",
            "respire plus|pas",
            "détresse|gêne respiratoire",
            "tirage|cyanos*",
            "lèvres|bouche|visage bleu*|bleues|violet*",
            "reprendre souffle",
            "creuse ventre|côtes|cou",
            "crise asthme",
        ),
    ),
    (
        "Signes d'AVC",
        (
            "avc|hémiplég*|aphasi*",
            "attaque|accident cérébral*|vasculaire",
            "accident ischémique transitoire",
            "=bouche|visage|face travers|tordue|déviée|déformé*|tombe|paralys*|asymétri*",
            "peut|arrive plus|pas parler",
            "parle plus|pas",
            "=parle bizarre*|difficil*|mal",
            "bafouill*",
            "trouble*|difficult*|difficile parole|langage|élocution|parler",
            "faiblesse|engourdi*|paralys*|lourdeur côté|moitié|hémicorps",
            "faiblesse|lourdeur|force bras|main|jambe droit*|gauche",
            "bras|jambe|main paralys*|inerte*",
            "bras|jambe|main répond|repond plus|pas",
            "bras|jambe|main + bouge|remue|soulève|lève plus|pas",
        ),
    ),
    (
        "Déficit neurologique",
        ("sent plus bras|jambe|jambes|main|mains|visage", "paralys*"),
    ),
    (
        "Perte de connaissance",
        (
            "perte|perdu|pertes connaissance",
            "évanoui*|syncope*",
            "inconscient*|inanimé*",
            "tombé*|tombe pommes",
            "répond|repond|réagit plus",
            "répond|repond pas quand|appel*|stimul*|nom|rien",
            "réveille|reveille pas|plus",
            "arrive pas réveiller",
            "=impossible réveiller",
        ),
    ),
    ("Malaise", ("malaise*",)),
    (
        "Hémorragie",
        (
            "hémorragi*",
            "=saign*|sang beaucoup|abondamment|énormément|fort|partout|gicle|giclé|flot*|pisse|"
            "souvent",
            "=beaucoup sang",
            "pisse|gicle sang",
            "saignement* abondant*|important*|massif*",
            "saign* arrête|arrete plus|pas",
            "vomi*|gerb* sang",
            "crach*|crache|touss* sang",
            "hématémèse|hémoptysie|méléna",
            "selles noires",
        ),
    ),
    (
        "Confusion aiguë",
        (
            "confus*|désorient*|incohérent*|délir*|hallucin*",
            "dit|raconte|parle nimportequoi",
            "reconnaît|reconnait plus|pas",
        ),
    ),
    (
        "Trouble de la vigilance",
        (
            "somnol*|aréactif*|areactif*|hypotoni*",
            "=difficile* réveiller",
            "réveille difficilement",
            "tout|toute mou|molle|flasque",
        ),
    ),
    (
        "Idées suicidaires",
        (
            "=envie mourir|crever",
            "=veux|veut|voudrait|voulait mourir|crever",
            "idée*|idee* suicid*|noire*",
            "suicid*",
            "veut|veux|voulait|voudrait|envie en finir",
            "finir|fin jours|vie",
            "plus envie vivre",
            "=me|se|te tuer",
            "=se|me pendre|défenestr*",
        ),
    ),
    (
        "Tentative de suicide",
        ("tentative suicide", "=suicid* ~par|médicament*|médicamenteu*", "pendu|pendaison"),
    ),
    (
        "Intoxication",
        (
            "intoxi*|monoxyde|overdose|surdose",
            "avalé*|ingéré*|ingestion médicament*|cachet*|comprimé*|boîte|boite|plaquette*|"
            "produit*|javel|détergent*|pile*|lessive",
            "=pris* boîte|boite|plaquette*|trop",
        ),
    ),
    ("Purpura", ("purpura",)),
    (
        "Purpura fébrile",
        (
            f"purpura + {_FEVER}",
            f"tache*|point*|bouton*|plaque* violac*|violet*|pourpre*|noir* + {_FEVER}",
            f"efface* pas|plus + {_FEVER}",
        ),
    ),
    (
        "Anaphylaxie / œdème de Quincke",
        (
            "quincke|anaphyla*",
            "choc allergique|anaphylactique",
            "langue gonfl*|enfl*|gonflement",
            "gonfl*|enfl*|oedème*|gonflement gorge|lèvres|lèvre|langue|visage|paupières|bouche|"
            "yeux|face + piqûre*|piqu*|guêpe*|abeille*|frelon*|allergi*|mangé*|cacahuète*|"
            "arachide*|noix|médicament*|antibio*|crevette*|fruits",
            "gorge serre*|serré*|ferme* + piqûre*|piqu*|guêpe*|abeille*|frelon*|allergi*|"
            "mangé*|cacahuète*|arachide*|médicament*|antibio*",
        ),
    ),
    (
        "Convulsions",
        (
            "convuls*",
            "crise épilep*|comitiale|convulsive|tonicoclonique",
            "yeux révulsés",
        ),
    ),
    (
        "Traumatisme crânien avec signe de gravité",
        (
            "tombé*|tombe|chute|chuté|cogné*|tapé*|tape|coup|choc|heurt* tête|crâne + "
            "somnol*|endormi*|dort|vomi*|confus*|perte|perdu|évanoui*|bizarre|anticoag*|"
            "kardégic|préviscan|eliquis|xarelto|pradaxa|coumadine|sintrom",
            "traumatisme|trauma crânien|crâne + somnol*|endormi*|dort|vomi*|confus*|perte|"
            "perdu|évanoui*|anticoag*",
        ),
    ),
    (
        "Syndrome méningé",
        (
            "méningit*|méningé*",
            f"nuque raide|bloqué*|raideur + {_FEVER}",
            f"photophob* + {_FEVER}",
            f"supporte|supporter pas|plus lumière + {_FEVER}",
        ),
    ),
    (
        "Céphalée brutale inhabituelle",
        (
            "mal|douleur*|maux tête|crâne|céphal* + brutal*|brusque*|soudain*|tonnerre",
            "=pire mal|douleur*|maux tête|crâne|vie",
            "=jamais eu aussi|autant|si mal",
        ),
    ),
    (
        "Douleur testiculaire aiguë",
        ("testicule*|bourse*|scrotum + brutal*|brusque*|soudain*|torsion|atroce*|insupportable",),
    ),
    ("Saignement pendant la grossesse", ("enceinte|grossesse + saign*|sang|hémorragi*",)),
    (
        "Nourrisson qui ne boit plus",
        (
            "bébé|bebe|nourrisson|nouveaune + boit|tète|tete plus|pas|rien",
            "bébé|bebe|nourrisson|nouveaune + refuse biberon*|boire|tétée*|sein",
        ),
    ),
    (
        "Traumatisme grave",
        (
            "accident* voiture|route|moto|scooter|camion|circulation",
            "avp|incarcér*|défenestr*|électrocut*|électrisé*",
            "chute|tombé*|tombe étage|toit|échelle|escabeau|mètres|balcon|fenêtre",
            "=grande hauteur",
            "fracture ouverte",
            "os sort|dépasse",
        ),
    ),
    ("Noyade", ("noyade|noyé*",)),
    ("Signes de choc", ("marbr*", "extrémités froides")),
    (
        "Trouble visuel brutal",
        ("=voit plus|rien", "perte vue|vision", "vision double", "aveugle*|cécité"),
    ),
)

# Rules whose reason is dropped when a more specific one fired.
_SUPERSEDED = {
    "Purpura": "Purpura fébrile",
    "Malaise": "Perte de connaissance",
    "Idées suicidaires": "Tentative de suicide",
    "Déficit neurologique": "Signes d'AVC",
}

# Phrases that switch off some owners (motif codes or red-flag reasons) on the words
# they cover: "respirer par le nez" is not dyspnoea, "bouton de fièvre" is not fever.
_FEVER_OWNERS = ("A03", "R80", "Purpura fébrile", "Syndrome méningé")
_SUPPRESSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("=respir* pas|plus|mal|bien|difficilement ~par nez", ("R02", "Difficulté respiratoire")),
    ("=respir* ~par nez", ("R02", "Difficulté respiratoire")),
    ("=bouton* fièvre", _FEVER_OWNERS),
    ("intoxication alimentaire", ("Intoxication", "P77")),
    (
        "répond|repond pas|plus traitement|doliprane|antibiotique*|médicament*|paracétamol|"
        "téléphone|portable|message*",
        ("Perte de connaissance", "A06"),
    ),
)

# When the best motif itself must go to the 15, this is the reason shown.
_MOTIF_REASONS = {
    "A06": "Perte de connaissance",
    "A11": "Douleur thoracique",
    "K01": "Douleur thoracique",
    "K89": "Signes d'AVC",
    "K90": "Signes d'AVC",
    "R02": "Difficulté respiratoire",
    "N07": "Convulsions",
    "P77": "Tentative de suicide",
    "D14": "Hémorragie",
    "R24": "Hémorragie",
    "W03": "Saignement pendant la grossesse",
}
_MOTIF_FLAG_MIN_SCORE = 0.55


# --------------------------------------------------------------------------- compiled lexicon


@dataclass(frozen=True)
class _Slot:
    words: frozenset[str]
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class _Part:
    slots: tuple[_Slot, ...]
    ordered: bool
    has_cue: bool


@dataclass(frozen=True)
class _Expr:
    owner: str
    kind: str  # "motif" | "flag" | "mask"
    parts: tuple[int, ...]
    weight: float
    masks: tuple[str, ...] = ()  # for kind == "mask": owners switched off


@dataclass
class _Text:
    tokens: list[str]
    clauses: list[int]
    corrected: list[bool]
    infant_under_3_months: bool = False
    severe_tension: bool = False
    low_saturation: bool = False
    overdose: bool = False

    @functools.cached_property
    def content(self) -> list[bool]:
        return [not (t in _NONCONTENT or t[0].isdigit()) for t in self.tokens]


@dataclass
class _Hit:
    owner: str
    kind: str
    weight: float
    positions: frozenset[int]
    fuzzy: int
    masks: tuple[str, ...] = ()


def _fold_alternative(alt: str) -> str:
    star = alt.endswith("*")
    core = "".join(re.findall(r"[a-z0-9]+", _fold(alt.rstrip("*"))))
    return core + ("*" if star else "")


def _parse_part(text: str) -> tuple[_Slot, ...] | None:
    """Slots of one part; filler slots are dropped unless written with a leading ~."""
    slots: list[_Slot] = []
    for raw_slot in text.split():
        literal = raw_slot.startswith("~")
        alternatives = [_fold_alternative(a) for a in raw_slot.lstrip("~").split("|")]
        alternatives = [a for a in alternatives if a and a != "*"]
        if not alternatives:
            continue
        if len(alternatives) == 1 and alternatives[0] in _FILLERS and not literal:
            continue
        slots.append(
            _Slot(
                words=frozenset(a for a in alternatives if not a.endswith("*")),
                prefixes=tuple(sorted({a[:-1] for a in alternatives if a.endswith("*")})),
            )
        )
    return tuple(slots) if slots else None


# --------------------------------------------------------------------------- spelling


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance, giving up (limit + 1) once above limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        row_min = current[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
            row_min = min(row_min, value)
        if row_min > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[len(b)]


def _phonetic_key(word: str) -> str:
    """A rough French sound key: enough to map "diaree", "cistite", "fiaivre" home."""
    w = word.replace("ph", "f").replace("qu", "k").replace("ck", "k")
    w = re.sub(r"c(?=[aou])", "k", w)
    w = re.sub(r"c(?=[eiy])", "s", w)
    w = re.sub(r"g(?=[eiy])", "j", w)
    w = w.replace("gu", "g").replace("y", "i").replace("z", "s")
    w = re.sub(r"(?<![cs])h", "", w)
    w = w.replace("eau", "o").replace("au", "o").replace("ai", "e").replace("ei", "e")
    w = re.sub(r"(an|am|en|em)(?![aeiou])", "an", w)
    w = re.sub(r"(ain|ein|in|im|un)(?![aeiou])", "in", w)
    w = re.sub(r"(.)\1+", r"\1", w)
    w = re.sub(r"(er|ez|et)$", "e", w)
    if w.endswith("es"):
        return w[:-2]
    if w.endswith("e"):
        return w[:-1]  # "gratte" keeps its t, "grasse" its s
    return re.sub(r"[stxd]+$", "", w)


def _deletes(word: str, depth: int) -> set[str]:
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w)) if len(w) > 1}
        found |= frontier
    return found


class _Speller:
    """Corrects unknown words towards the lexicon (targets) or common French words."""

    def __init__(self, targets: Iterable[str], common: Iterable[str], stems: Iterable[str] = ()):
        self.targets = frozenset(t for t in targets if len(t) >= 3)
        # Prefix entries of the lexicon ("rhino*"): a misspelt start of a long word
        # ("rinopharyngite") is repaired on its own.
        self._stems: dict[str, set[str]] = {}
        for stem in stems:
            if len(stem) >= 5:
                for variant in _deletes(stem, 1):
                    self._stems.setdefault(variant, set()).add(stem)
        self._stem_lengths = sorted({len(s) for v in self._stems.values() for s in v})
        self.known = self.targets | frozenset(common)
        self._deletes: dict[str, set[str]] = {}
        self._sounds: dict[str, set[str]] = {}
        for word in self.known:
            if len(word) < 4:
                continue
            for variant in _deletes(word, 2 if len(word) >= 6 else 1):
                self._deletes.setdefault(variant, set()).add(word)
            key = _phonetic_key(word)
            if len(key) >= 3:
                self._sounds.setdefault(key, set()).add(word)
        self._cache: dict[str, str | None] = {}

    def correct(self, token: str) -> str | None:
        if token in self._cache:
            return self._cache[token]
        result = self._correct(token)
        if len(self._cache) > 50_000:  # bound memory on long-running processes
            self._cache.clear()
        self._cache[token] = result
        return result

    def _correct(self, token: str) -> str | None:
        if len(token) < 4:
            return None
        limit = 1 if len(token) <= 7 else 2
        candidates: dict[str, float] = {}
        for variant in _deletes(token, limit):
            for word in self._deletes.get(variant, ()):
                if word in candidates:
                    continue
                distance = _osa_distance(token, word, limit)
                if distance <= limit:
                    candidates[word] = float(distance)
        key = _phonetic_key(token)
        if len(key) >= 3:
            for word in self._sounds.get(key, ()):
                distance = _osa_distance(token, word, 3)
                if distance <= 3:  # sounding alike is worth half an edit
                    candidates[word] = min(candidates.get(word, 9.0), distance - 0.5)
        if len(token) == 4:  # too short to trust a change of first letter
            candidates = {w: c for w, c in candidates.items() if w[0] == token[0]}
        if not candidates:
            return self._correct_start(token)
        return min(
            candidates,
            key=lambda w: (
                candidates[w],
                w not in self.targets,
                w in _NONCONTENT,  # prefer a symptom word to a grammatical one
                w[0] != token[0],
                abs(len(w) - len(token)),
                w,
            ),
        )

    def _correct_start(self, token: str) -> str | None:
        found: list[tuple[int, str, str]] = []
        for length in self._stem_lengths:
            for cut in (length - 1, length, length + 1):
                piece = token[:cut]
                if cut >= len(token) or len(piece) < 4:
                    continue
                for variant in _deletes(piece, 1):
                    for stem in self._stems.get(variant, ()):
                        if len(stem) == length and _osa_distance(piece, stem, 1) <= 1:
                            found.append((abs(cut - length), stem, token[cut:]))
        if not found:
            return None
        _, stem, rest = min(found)
        return stem + rest


# --------------------------------------------------------------------------- matcher


class MotifMatcher:
    """Suggests CISP-2 motifs for a free-text reason for call and raises red flags."""

    _UNORDERED_RAW_GAP = 5
    _UNORDERED_CONTENT_GAP = 2
    _ORDERED_GAP = 3

    def __init__(self, motifs: list[Motif] | None = None):
        self.motifs = list(motifs) if motifs is not None else load_motifs()
        self._by_code = {m.code: m for m in self.motifs}
        self._parts: list[_Part] = []
        self._part_ids: dict[tuple[tuple[_Slot, ...], bool], int] = {}
        self._exprs: list[_Expr] = []
        for code, expression, weight in _read_synonyms(SYNONYMS_CSV):
            if code in self._by_code:
                self._add_expr(code, "motif", expression, weight)
        for reason, expressions in _RED_FLAG_RULES:
            for expression in expressions:
                self._add_expr(reason, "flag", expression, 1.0)
        for expression, owners in _SUPPRESSIONS:
            self._add_expr("mask", "mask", expression, 1.0, owners)

        self._word_index: dict[str, list[tuple[int, int]]] = {}
        self._prefix_index: dict[str, list[tuple[int, int]]] = {}
        for part_id, part in enumerate(self._parts):
            for slot_index, slot in enumerate(part.slots):
                for word in slot.words:
                    self._word_index.setdefault(word, []).append((part_id, slot_index))
                for prefix in slot.prefixes:
                    self._prefix_index.setdefault(prefix, []).append((part_id, slot_index))
        self._prefix_lengths = sorted({len(p) for p in self._prefix_index})
        self._exprs_by_part: dict[int, list[int]] = {}
        for expr_id, expr in enumerate(self._exprs):
            for part_id in expr.parts:
                self._exprs_by_part.setdefault(part_id, []).append(expr_id)
        self._cue_parts = [i for i, p in enumerate(self._parts) if p.has_cue]

        # Prefix entries ("diarrh*") also get a few inflected forms as spelling targets, so
        # that "dirrhée" is brought back to "diarrhee" and then matches the prefix.
        bases = [p for p in self._prefix_index if len(p) >= 4]
        targets = set(self._word_index) | set(bases)
        targets |= {base + ending for base in bases for ending in _INFLECTIONS}
        self._speller = _Speller(targets, _COMMON_WORDS | _FILLERS | _NONCONTENT, bases)

    # ----------------------------------------------------------------- compilation

    def _compile_parts(self, expression: str) -> list[int]:
        ordered = expression.startswith("=")
        part_ids = []
        for raw_part in expression.lstrip("=").split(" + "):
            slots = _parse_part(raw_part)
            if slots is None:
                continue
            has_cue = any(a in _ALL_CUES for s in slots for a in s.words)
            key = (slots, ordered or has_cue)
            if key not in self._part_ids:
                self._part_ids[key] = len(self._parts)
                self._parts.append(_Part(slots=slots, ordered=ordered or has_cue, has_cue=has_cue))
            part_ids.append(self._part_ids[key])
        return part_ids

    def _add_expr(
        self, owner: str, kind: str, expression: str, weight: float, masks: Sequence[str] = ()
    ) -> None:
        part_ids = self._compile_parts(expression)
        if part_ids:
            self._exprs.append(_Expr(owner, kind, tuple(part_ids), weight, tuple(masks)))

    # ----------------------------------------------------------------- text analysis

    def _analyse(self, text: str) -> _Text:
        folded = _fold(text)
        folded = re.sub(r"(\d{2})\s*°\s*(\d)(?!\d)", r"\1.\2", folded)
        folded = re.sub(r"(\d),(\d)", r"\1.\2", folded)
        clauses = re.split(r"[;!?\n:()\[\]+,]|(?<!\d)\.|\.(?!\d)|\s-\s", folded)
        tokens: list[str] = []
        clause_ids: list[int] = []
        for clause_id, clause in enumerate(clauses):
            words = re.findall(r"[a-z]+|\d+(?:\.\d+)?", clause)
            for word in self._expand(words):
                tokens.append(word)
                clause_ids.append(clause_id)
        result = _Text(tokens=tokens, clauses=clause_ids, corrected=[False] * len(tokens))
        self._read_numbers(result)
        for i, token in enumerate(tokens):
            if token[0].isdigit() or self._is_known(token):
                continue
            fixed = self._speller.correct(token)
            if fixed is not None and fixed != token:
                tokens[i] = fixed
                result.corrected[i] = True
        return result

    @staticmethod
    def _expand(words: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(words):
            for size in (4, 3, 2, 1):
                key = tuple(words[i : i + size])
                if len(key) == size and key in _PHRASES:
                    out.extend(_PHRASES[key])
                    i += size
                    break
            else:
                word = words[i]
                following = words[i + 1] if i + 1 < len(words) else ""
                if word in ("ta", "pa") and following[:1].isdigit():
                    out.append("tension")
                elif word == "pa":
                    out.append("pas")
                elif word == "t" and following[:1].isdigit():
                    out.append("temperature")
                else:
                    out.extend(_ABBREVIATIONS.get(word, (word,)))
                i += 1
        return out

    def _is_known(self, token: str) -> bool:
        if token in self._speller.known or len(token) < 4:
            return True
        return any(token[:n] in self._prefix_index for n in self._prefix_lengths if n <= len(token))

    @staticmethod
    def _read_numbers(text: _Text) -> None:
        """Fever numbers, infant age, blood pressure and saturation figures."""
        tokens = text.tokens
        for i, token in enumerate(tokens):
            if not token[0].isdigit():
                continue
            value = float(token)
            before = tokens[i - 1] if i > 0 else ""
            after = tokens[i + 1] if i + 1 < len(tokens) else ""
            window = tokens[max(0, i - 3) : i]
            if after in ("jour", "jours", "semaine", "semaines", "sem", "mois") and not (
                _DURATION_WORDS & set(window)
            ):
                if after == "mois":
                    months = value
                elif after.startswith("jour"):
                    months = value / 30
                else:
                    months = value / 4.3
                if before in ("de", "age", "agee", "bebe", "nourrisson", "a", "fils", "fille"):
                    text.infant_under_3_months |= months < 3
            if "tension" in window or "hypertension" in window:
                text.severe_tension |= 20 <= value < 30 or value >= 200
            if "saturation" in window and 50 <= value < 94:
                text.low_saturation = True
            if value >= 10 and after.startswith(_PILLS):  # "a pris 20 comprimés"
                text.overdose = True
            if (
                37.8 <= value <= 42.5
                and after not in _UNIT_WORDS
                and "tension" not in window
                and "saturation" not in window
            ):
                tokens[i] = "fievre"  # "39 depuis hier", "bébé 38.5"
        if "nouveaune" in tokens:
            text.infant_under_3_months = True

    # ----------------------------------------------------------------- matching

    def _slot_positions(self, text: _Text) -> dict[int, list[list[int]]]:
        positions: dict[int, list[list[int]]] = {}
        for i, token in enumerate(text.tokens):
            refs = list(self._word_index.get(token, ()))
            for n in self._prefix_lengths:
                if n > len(token):
                    break
                refs.extend(self._prefix_index.get(token[:n], ()))
            for part_id, slot_index in refs:
                slots = positions.get(part_id)
                if slots is None:
                    slots = [[] for _ in self._parts[part_id].slots]
                    positions[part_id] = slots
                if not slots[slot_index] or slots[slot_index][-1] != i:
                    slots[slot_index].append(i)
        return {p: s for p, s in positions.items() if all(s)}

    def _occurrence(
        self,
        part: _Part,
        slot_positions: list[list[int]],
        text: _Text,
        blocked: Sequence[bool],
    ) -> tuple[int, ...] | None:
        """Best (tightest, earliest) placement of a part, or None."""
        lists = [[p for p in ps if not blocked[p]] for ps in slot_positions]
        if not all(lists):
            return None
        if len(lists) == 1:
            return (lists[0][0],)
        slots = len(lists)
        if part.ordered:
            reach = (slots - 1) * (self._ORDERED_GAP + 1)
        else:
            reach = slots - 1 + self._UNORDERED_RAW_GAP
        best: tuple[int, ...] | None = None
        best_key: tuple[int, int] | None = None
        # Every placement lies within `reach` tokens of its first slot's position, so
        # only nearby positions are combined: long or repetitive texts stay cheap.
        for anchor in lists[0]:
            clause = text.clauses[anchor]
            nearby = [
                [
                    p
                    for p in ps[bisect.bisect_left(ps, anchor - reach) :]
                    if p <= anchor + reach and text.clauses[p] == clause and p != anchor
                ]
                for ps in lists[1:]
            ]
            for rest in itertools.product(*nearby):
                combo = (anchor, *rest)
                if len(set(combo)) != slots:
                    continue
                if part.ordered:
                    if not self._ordered_ok(combo, text):
                        continue
                elif not self._unordered_ok(combo, text):
                    continue
                key = (max(combo) - min(combo), min(combo))
                if best_key is None or key < best_key:
                    best, best_key = combo, key
        return best

    def _ordered_ok(self, combo: tuple[int, ...], text: _Text) -> bool:
        for left, right in itertools.pairwise(combo):
            if right <= left or right - left - 1 > self._ORDERED_GAP:
                return False
            if any(text.tokens[k] not in _FILLERS for k in range(left + 1, right)):
                return False
        return True

    def _unordered_ok(self, combo: tuple[int, ...], text: _Text) -> bool:
        low, high = min(combo), max(combo)
        gap = high - low + 1 - len(combo)
        if gap > self._UNORDERED_RAW_GAP:
            return False
        inside = set(combo)
        content_gap = sum(1 for k in range(low, high + 1) if k not in inside and text.content[k])
        return content_gap <= self._UNORDERED_CONTENT_GAP

    def _negation(self, text: _Text, protected: list[bool]) -> list[bool]:
        tokens, clauses = text.tokens, text.clauses
        negated = [False] * len(tokens)
        for i, token in enumerate(tokens):
            if protected[i] or token not in _ALL_CUES:
                continue
            start = max(0, i - 3)
            ne_at = next(
                (
                    k
                    for k in range(i - 1, start - 1, -1)
                    if tokens[k] == "ne" and clauses[k] == clauses[i]
                ),
                None,
            )
            if token in _CONDITIONAL_CUES and ne_at is None:
                continue
            if ne_at is not None and token in ("pas", "plus", "jamais"):
                for k in range(ne_at + 1, i):  # "ne tousse pas"
                    negated[k] = not protected[k]
            counted = 0
            k = i + 1
            while k < len(tokens) and clauses[k] == clauses[i] and counted < _NEGATION_SCOPE:
                word = tokens[k]
                if word in _SCOPE_BREAKERS:
                    break
                if word == "et":
                    following = tokens[k + 1] if k + 1 < len(tokens) else ""
                    if following not in ("de", "d", "du", "des", "ni", "pas", "sans"):
                        break
                if word == "ni":
                    counted = 0
                elif text.content[k] and not protected[k]:
                    negated[k] = True
                    counted += 1
                k += 1
        return negated

    def _hits(self, text: _Text) -> list[_Hit]:
        found = self._slot_positions(text)
        if not found:
            return []
        size = len(text.tokens)
        nothing_blocked = [False] * size
        protected = [False] * size
        for part_id in self._cue_parts:
            if part_id not in found:
                continue
            occurrence = self._occurrence(self._parts[part_id], found[part_id], text, protected)
            if occurrence is not None:
                for k in range(min(occurrence), max(occurrence) + 1):
                    protected[k] = True
        negated = self._negation(text, protected)
        occurrences: dict[int, tuple[int, ...] | None] = {}
        for part_id, slot_positions in found.items():
            part = self._parts[part_id]
            blocked = nothing_blocked if part.has_cue else negated
            occurrences[part_id] = self._occurrence(part, slot_positions, text, blocked)
        hits: list[_Hit] = []
        seen: set[int] = set()
        for part_id, occurrence in occurrences.items():
            if occurrence is None:
                continue
            for expr_id in self._exprs_by_part.get(part_id, ()):
                if expr_id in seen:
                    continue
                seen.add(expr_id)
                expr = self._exprs[expr_id]
                placed = [occurrences.get(p) for p in expr.parts]
                if any(o is None for o in placed):
                    continue
                positions = frozenset(p for o in placed if o for p in o)
                hits.append(
                    _Hit(
                        owner=expr.owner,
                        kind=expr.kind,
                        weight=expr.weight,
                        positions=positions,
                        fuzzy=sum(text.corrected[p] for p in positions),
                        masks=expr.masks,
                    )
                )
        masks = [h for h in hits if h.kind == "mask"]
        return [
            h
            for h in hits
            if h.kind != "mask"
            and not any(h.owner in m.masks and h.positions & m.positions for m in masks)
        ]

    # ----------------------------------------------------------------- public

    def match(self, text: str, limit: int = 5) -> MatchResult:
        analysis = self._analyse(text or "")
        if not analysis.tokens:
            return MatchResult(suggestions=[], red_flag=False, red_flag_reasons=[])
        hits = self._hits(analysis)
        suggestions = self._rank([h for h in hits if h.kind == "motif"], analysis)
        reasons = self._reasons([h for h in hits if h.kind == "flag"], analysis, hits)
        if not reasons and suggestions:
            best = suggestions[0]
            motif = self._by_code[best.code]
            if motif.refer_to_15 and best.score >= _MOTIF_FLAG_MIN_SCORE:
                reasons = [_MOTIF_REASONS.get(motif.code, motif.label)]
        return MatchResult(
            suggestions=suggestions[: max(0, limit)],
            red_flag=bool(reasons),
            red_flag_reasons=reasons,
        )

    def _rank(self, hits: list[_Hit], text: _Text) -> list[Suggestion]:
        if not hits:
            return []
        content = [i for i, is_content in enumerate(text.content) if is_content]
        by_code: dict[str, list[_Hit]] = {}
        for hit in hits:
            by_code.setdefault(hit.owner, []).append(hit)
        best_hit: dict[str, _Hit] = {}
        raw: dict[str, float] = {}
        for code, code_hits in by_code.items():
            scored = sorted(
                code_hits,
                key=lambda h: (-h.weight * 0.93**h.fuzzy, -len(h.positions), min(h.positions)),
            )
            top = scored[0]
            best_hit[code] = top
            covered = set().union(*(h.positions for h in code_hits))
            coverage = len(covered & set(content)) / max(1, len(content))
            extra = len({h.positions for h in code_hits}) - 1
            raw[code] = top.weight * 0.93**top.fuzzy * (0.72 + 0.28 * coverage) + 0.03 * min(
                extra, 2
            )
        for code, hit in best_hit.items():
            if any(
                other != code and hit.positions < other_hit.positions
                for other, other_hit in best_hit.items()
            ):
                raw[code] *= 0.85  # a more specific expression explains the same words
        ordered = sorted(raw, key=lambda c: (-round(raw[c], 6), min(best_hit[c].positions), c))
        return [
            Suggestion(
                code=code,
                label=self._by_code[code].label,
                score=round(min(1.0, max(0.0, raw[code])), 3),
            )
            for code in ordered
        ]

    def _reasons(self, flags: list[_Hit], text: _Text, hits: list[_Hit]) -> list[str]:
        fever = any(h.owner == "A03" and h.kind == "motif" for h in hits)
        reasons: list[str] = []
        for hit in sorted(flags, key=lambda h: min(h.positions)):
            if hit.owner not in reasons:
                reasons.append(hit.owner)
        extra = []
        if text.infant_under_3_months and fever:
            extra.append("Fièvre du nourrisson de moins de 3 mois")
        if text.low_saturation:
            extra.append("Difficulté respiratoire")
        if text.severe_tension:
            extra.append("Hypertension sévère")
        if text.overdose:
            extra.append("Intoxication")
        for reason in extra:
            if reason not in reasons:
                reasons.append(reason)
        return [r for r in reasons if _SUPERSEDED.get(r) not in reasons]


def _read_synonyms(path: Path) -> list[tuple[str, str, float]]:
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if not row or row[0].startswith("#") or row[0] == "code" or len(row) < 3:
                continue
            rows.append((row[0].strip(), row[1].strip(), float(row[2])))
    return rows


@functools.lru_cache(maxsize=1)
def get_matcher() -> MotifMatcher:
    """The shared matcher: building the indexes takes a fraction of a second, once."""
    return MotifMatcher()


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Phrasing:
    text: str
    expected_code: str
    red_flag: bool


@dataclass(frozen=True)
class Evaluation:
    total: int
    top1: float
    top3: float
    red_flag_total: int
    red_flag_recall: float
    red_flag_precision: float
    false_positives: int
    false_positive_rate: float  # among phrasings labelled without red flag
    mean_ms: float
    p95_ms: float
    missed_codes: list[Phrasing]
    missed_flags: list[Phrasing]
    false_flags: list[Phrasing]


def load_phrasings(path: str | Path) -> list[Phrasing]:
    """Read a phrasings file (columns text,expected_code,red_flag with oui/non)."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return [
            Phrasing(
                text=row["text"],
                expected_code=row["expected_code"].strip(),
                red_flag=row["red_flag"].strip().lower() == "oui",
            )
            for row in csv.DictReader(handle)
        ]


def evaluate(phrasings: Sequence[Phrasing], matcher: MotifMatcher | None = None) -> Evaluation:
    """Top-1/top-3 accuracy, red-flag recall and precision, time per suggestion."""
    matcher = matcher or get_matcher()
    top1 = top3 = 0
    timings: list[float] = []
    missed_codes: list[Phrasing] = []
    missed_flags: list[Phrasing] = []
    false_flags: list[Phrasing] = []
    flagged_right = 0
    for phrasing in phrasings:
        started = time.perf_counter()
        result = matcher.match(phrasing.text)
        timings.append((time.perf_counter() - started) * 1000)
        codes = [s.code for s in result.suggestions]
        top1 += codes[:1] == [phrasing.expected_code]
        if phrasing.expected_code in codes[:3]:
            top3 += 1
        else:
            missed_codes.append(phrasing)
        if phrasing.red_flag and result.red_flag:
            flagged_right += 1
        elif phrasing.red_flag:
            missed_flags.append(phrasing)
        elif result.red_flag:
            false_flags.append(phrasing)
    total = len(phrasings)
    red_total = sum(p.red_flag for p in phrasings)
    raised = flagged_right + len(false_flags)
    timings.sort()
    return Evaluation(
        total=total,
        top1=top1 / total if total else 0.0,
        top3=top3 / total if total else 0.0,
        red_flag_total=red_total,
        red_flag_recall=flagged_right / red_total if red_total else 1.0,
        red_flag_precision=flagged_right / raised if raised else 1.0,
        false_positives=len(false_flags),
        false_positive_rate=len(false_flags) / (total - red_total) if total > red_total else 0.0,
        mean_ms=statistics.fmean(timings) if timings else 0.0,
        p95_ms=timings[min(len(timings) - 1, int(0.95 * len(timings)))] if timings else 0.0,
        missed_codes=missed_codes,
        missed_flags=missed_flags,
        false_flags=false_flags,
    )
