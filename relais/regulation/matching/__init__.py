"""Code what a caller says into CISP-2 motifs and spot red flags (issue 15).

Django-free on purpose, so that views, the API, management commands and tests can all use
it without settings. Built on EDS-NLP's rule-based pipes (see pipeline.py):

- the text is sanitised (NUL, HTML, emoji), normalised by eds.normalizer, SMS spelling
  and abbreviations corrected (rapidfuzz over the lexicon), cut into sentences;
- eds.matcher finds the referential's CONCEPTS (data/red_flags.yaml: a symptom, a body
  part, a modifier) and the CISP-2 lexicon's expressions (data/synonyms.csv) on the
  normalised text; eds.negation / family / history / hypothesis
  qualify each mention;
- a criterion of the referential triggers when all the concepts of one of its triggers
  are mentioned affirmatively (plus facts: age, vital signs, treatments); a criterion
  whose core concept alone is mentioned is a candidate whose questions should be asked;
- CISP-2 motifs are ranked by the weight of their best expression and how much of the
  text their expressions explain.
"""

from __future__ import annotations

import csv
import functools
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from relais.regulation import referential as referential_module
from relais.regulation.matching import facts as facts_module
from relais.regulation.matching.evaluation import (
    Evaluation,
    Phrasing,
    evaluate,
    load_phrasings,
)
from relais.regulation.matching.pipeline import FILLERS, Speller, build, fold, sanitize, vocabulary

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MOTIFS_CSV = DATA_DIR / "motifs-cisp2.csv"
SYNONYMS_CSV = DATA_DIR / "synonyms.csv"
MAX_TEXT = 2000

__all__ = [
    "Evaluation",
    "MatchResult",
    "Motif",
    "MotifMatcher",
    "Phrasing",
    "Suggestion",
    "evaluate",
    "get_matcher",
    "load_motifs",
    "warm",
    "load_phrasings",
]


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
    red_flag_reasons: list[str]  # French labels of red_flag_criteria
    red_flag_criteria: list[str] = field(default_factory=list)  # most severe first
    candidate_criteria: list[str] = field(default_factory=list)
    qualifiers: list[dict] = field(default_factory=list)


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


def _read_synonyms(path: Path) -> list[tuple[str, str, float]]:
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if not row or row[0].startswith("#") or row[0] == "code" or len(row) < 3:
                continue
            rows.append((row[0].strip(), row[1].strip(), float(row[2])))
    return rows


def _slots(part: str, speller: Speller) -> list[list[str]]:
    """The slots of one part of a synonyms.csv expression ("douleur*|mal ventre|abdo*"),
    each as the phrases eds.matcher looks for; filler slots dropped."""
    slots: list[list[str]] = []
    for raw in part.split():
        literal = raw.startswith("~")
        alternatives = [a for a in raw.lstrip("~").split("|") if a.strip("*")]
        if not literal and all(fold(a) in FILLERS for a in alternatives):
            continue
        words = sorted({t for a in alternatives for t in speller.terms(a)})
        if words:
            slots.append(words)
    return slots


@dataclass
class _Mention:
    label: str
    start: int  # token offsets
    end: int
    text: str
    sentence: int
    qualifier: str  # "" (affirmative) or negation/history/resolved/family/hypothesis
    clause: int = 0


# A clause telling a dated past event: its mentions are history (or a relative's history),
# whatever tense the rest of the text uses. Deliberately no bare "a eu" / "a fait": "il a
# eu une douleur thoracique il y a 20 minutes" is today's.
_PAST_MARKER = re.compile(
    r"\b(?:(?:en|in) (?:19|20)\d\d|il y a \d+ (?:ans|an|mois)|\d+ (?:ans|years) plus tot|"
    r"years ago|l'an dernier|l an dernier|l'annee derniere|l annee derniere|le mois dernier|"
    r"l'(?:hiver|ete|automne) dernier|l (?:hiver|ete|automne) dernier|le printemps dernier|"
    r"last (?:month|year|winter|summer)|a \d+ (?:ans|mois)|"
    r"dans (?:l'|l |son |sa |mon |ma )?enfance|"
    r"quand (?:il|elle|j) ?(?:etait|etais) (?:petite?|enfant)|"
    r"as a child|in childhood|"
    r"est mort|est morte|decede|decedee|s'est suicide|s est suicide|died|atcd|antecedents?|"
    r"depuis des (?:annees|mois)|depuis longtemps|depuis toujours|for years|rien de nouveau)\b"
)
_RESOLVED = re.compile(
    r"\b(?:(?:c'est|c est|tout est|ca s'est|s'est) (?:passe|rentre|arrange|calme)|"
    r"(?:a|ont) disparu|est revenu|sont revenus|est reparti|a recupere|went away|resolved|"
    r"revenu a la normale|rentre dans l'ordre|ca va mieux|a dure|pendant \d+ ?min|"
    r"pendant quelques minutes)\b"
)


# A past episode told with its outcome (clause-level resolution / treated-episode
# qualifier): "il y a 10 jours, hospitalisée, tout est rentré dans l'ordre", "malaise la
# semaine dernière, vu par le cardio, tout était normal", "opéré en 2019, va bien depuis".
# A mention in such a sentence is "resolved" (like history: it does not trigger), unless
# the episode is today's: a TIA that resolved this morning is still one, a syncope that
# happened today is still an event (no dated-before-today marker, so not resolved).
_SELF_PATIENT = re.compile(
    r"\b(?:appel(?:le|lent)? pour (?:elle|lui|moi)[- ]?meme|pour (?:elle|lui|moi)[- ]meme|"
    r"c'?est pour moi|c est pour moi|moi,? je|moi j'|moi j |et moi|calling for myself|"
    r"for myself|it s for me|it's for me)\b"
)
_BEFORE_TODAY = re.compile(
    r"\b(?:il y a (?:\d+|deux|trois|quatre|cinq|six|dix|quinze|plusieurs|quelques) "
    r"(?:jours?|j|semaines?|sem|mois|ans?)|"
    r"(?:\d+|deux|trois|quelques) (?:jours?|semaines?|mois|ans?) (?:avant|plus tot)|"
    r"avant[- ]hier|la semaine (?:derniere|passee)|"
    r"le (?:mois|week-end|week end) (?:dernier|passe)|"
    r"l'?(?:ete|hiver|automne|printemps) (?:dernier|passe)|"
    r"(?:days?|weeks?|months?) ago|last (?:week|month|year)|en (?:19|20)\d\d|"
    r"cet (?:hiver|ete|automne)|ce printemps|cette annee|"
    r"en (?:janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|"
    r"decembre))\b"
)
_OUTCOME = re.compile(
    r"\b(?:(?:a|ont|avait|avaient) ete (?:traite|traitee|opere|operee|soigne|soignee|hospitalise|"
    r"hospitalisee|explore|exploree|vu|vue|pris en charge|prise en charge)|traitee?s? (?:par|pour)|"
    r"gueri|guerie|tout est rentre|rentre dans l'?ordre|"
    r"(?:c'est|c est|ca s'est|ca s est|tout s'est|tout s est) (?:passe|arrange|resolu)|"
    r"(?:va|allait|vais|allons) (?:tres |tout a fait )?(?:bien|mieux) depuis|"
    r"plus rien depuis|plus jamais eu|"
    r"rien depuis|sans (?:recidive|sequelle)s?|"
    r"(?:tout|bilan|examens?|ecg|scanner|irm|prise de sang|bio|resultats?) "
    r"(?:etai(?:en)?t |est |sont |)(?:normaux|normales?|normal|rassurants?|ok)|rien trouve|"
    r"n'?a? ?rien trouve|vu par (?:le |la |un |une |son |sa )?(?:cardio\w*|neuro\w*|medecin|"
    r"urgences?|specialiste|pneumo\w*|gastro\w*|dermato\w*|generaliste)|"
    r"(?:beaucoup |bien )?mieux (?:avec|sous|depuis) (?:le |son |mon |un )?(?:traitement|ttt)|"
    r"depuis (?:plus rien|rien|ca va)|retourne a l'?ecole|a repris le travail|"
    r"was treated|all normal|fine since|resolved since)\b"
)
# an episode of yesterday seen and explored by a doctor is history too ("convulsion
# fébrile hier, vu aux urgences, ce matin va bien"), but not one that merely passed
# (a TIA of yesterday is still one)
_EXPLORED = re.compile(
    r"\b(?:vue? (?:aux|a l'|au) ?(?:urgences?|hopital|sos medecins?)|passee? aux urgences|"
    r"vue? par (?:le |la |un |une |son |sa )?(?:medecin|cardio\w*|neuro\w*|pediatre)|"
    r"(?:bilan|examens?|ecg|scanner|irm) (?:etai(?:en)?t |est |sont |)norma\w*)\b"
)


class MotifMatcher:
    """Build once (get_matcher), then match(text) in about a millisecond."""

    def __init__(self, motifs: list[Motif] | None = None):
        self.motifs = motifs if motifs is not None else load_motifs()
        self._by_code = {m.code: m for m in self.motifs}
        self.referential = referential_module.referential()
        self.criteria = self.referential.criteria
        rows = [r for r in _read_synonyms(SYNONYMS_CSV) if r[0] in self._by_code]
        vocab_terms = [t for terms in self.referential.concepts.values() for t in terms]
        vocab_terms += [
            t for slots in self.referential.composites.values() for slot in slots for t in slot
        ]
        vocab_terms += [expression for _, expression, _ in rows]
        vocab_terms += [motif.label for motif in self.motifs]
        words, stems = vocabulary(vocab_terms)
        self._speller = Speller(words, stems, self.referential.abbreviations)
        patterns: dict[str, list[str]] = {}
        for name, concept_terms in self.referential.concepts.items():
            phrases = sorted({t for c in concept_terms for t in self._speller.terms(c)})
            if phrases:
                patterns["c:" + name] = phrases
        # the slots of composite concepts, each an eds.matcher label "k:<name>:<i>"
        self._composites = self.referential.composites
        for name, slots in self._composites.items():
            for i, slot in enumerate(slots):
                phrases = sorted({t for c in slot for t in self._speller.terms(c)})
                if phrases:
                    patterns[f"k:{name}:{i}"] = phrases
        # An expression: groups of slot labels; the slots of a group must be found in one
        # sentence (in order, close together, for an expression written with a leading =),
        # the groups (" + ") anywhere in the text.
        self._expressions: list[tuple[str, float, list[list[str]], bool]] = []
        slot_labels: dict[tuple[str, ...], str] = {}
        for code, expression, weight in rows:
            ordered = expression.startswith("=")
            groups = []
            for part in expression.lstrip("=").split(" + "):
                labels = []
                for phrases in _slots(part, self._speller):
                    key = tuple(phrases)
                    if key not in slot_labels:
                        slot_labels[key] = f"m:{len(slot_labels)}"
                        patterns[slot_labels[key]] = phrases
                    labels.append(slot_labels[key])
                if labels:
                    groups.append(labels)
            if groups:
                self._expressions.append((code, weight, groups, ordered))
        self._by_label: dict[str, list[int]] = {}
        for index, (_, _, groups, _) in enumerate(self._expressions):
            for label in groups[0]:
                self._by_label.setdefault(label, []).append(index)
        self._nlp = build(patterns, self._speller)
        # criteria in severity order: P0 first, then the file's order
        self._order = {cid: i for i, cid in enumerate(self.criteria)}

    # ------------------------------------------------------------------ public

    def match(
        self,
        text: str,
        *,
        age_years: int | None = None,
        sex: str | None = None,
        limit: int = 5,
    ) -> MatchResult:
        clean = sanitize(text or "", MAX_TEXT)
        if not re.search(r"\w", clean):
            return MatchResult(suggestions=[], red_flag=False, red_flag_reasons=[])
        doc = self._nlp(clean)
        # facts read the folded text itself, not the spelling-corrected norms
        folded = " ".join(fold(t.text) for t in doc)
        facts = facts_module.read(folded, age_years=age_years, sex=sex)
        sentences: dict[int, int] = {}
        clauses: dict[int, int] = {}
        clause_tokens: list[list] = []
        sentence_text: dict[int, str] = {}
        # episodes: a sentence cut where the caller comes back to the present ("opérée il y
        # a 10 jours, maintenant essoufflée"), the scope of the resolution qualifier
        episodes: dict[int, int] = {}
        episode_tokens: list[list] = []
        for i, sent in enumerate(doc.sents):
            sentence_text[i] = fold(sent.text)
            clause_tokens.append([])
            episode_tokens.append([])
            for token in sent:
                sentences[token.i] = i
                if token.norm_ in _CLAUSE_BREAKS and clause_tokens[-1]:
                    clause_tokens.append([])
                if _is_present_marker(doc, token) and episode_tokens[-1]:
                    episode_tokens.append([])
                clauses[token.i] = len(clause_tokens) - 1
                episodes[token.i] = len(episode_tokens) - 1
                clause_tokens[-1].append(token.text_with_ws)
                episode_tokens[-1].append(token.text_with_ws)
        clause_text = [fold("".join(words)) for words in clause_tokens]
        episode_text = [fold("".join(words)) for words in episode_tokens]
        mentions: list[_Mention] = []
        for span in doc.spans.get("concepts", []):
            sid = sentences.get(span.start, 0)
            mentions.append(
                _Mention(
                    label=span.label_,
                    start=span.start,
                    end=span.end,
                    text=span.text,
                    sentence=sid,
                    qualifier=self._qualifier(
                        span,
                        clause_text[clauses.get(span.start, 0)],
                        episode_text[episodes.get(span.start, 0)],
                    )
                    or ("negation" if span.label_.startswith("m:") and _no_more(doc, span) else ""),
                    clause=clauses.get(span.start, 0),
                )
            )
        mentions += self._composite_mentions(mentions, doc)
        motif_mentions = [m for m in mentions if m.label.startswith("m:")]
        suggestions = self._rank(motif_mentions, doc, facts)
        if not suggestions:
            # "AVC ?", "zona ?": the suspicion is the reason for the call
            suggestions = self._rank(motif_mentions, doc, facts, keep=("hypothesis",))
        if any(m.qualifier in ("history", "resolved") for m in motif_mentions):
            suggestions = self._with_past_episode(suggestions, motif_mentions, doc, facts)
        concepts = [m for m in mentions if m.label.startswith("c:")]
        triggered, candidates, qualifiers = self._criteria(concepts, facts, sentence_text)
        resolved = "resolved" in {m.label[2:] for m in concepts} or bool(_RESOLVED.search(folded))
        present = frozenset(m.label[2:] for m in concepts if not m.qualifier)
        suggestions = self._lead_with_red_flag(suggestions, triggered, resolved, present)
        return MatchResult(
            suggestions=suggestions[: max(0, limit)],
            red_flag=bool(triggered),
            red_flag_reasons=[self.criteria[c].label for c in triggered],
            red_flag_criteria=triggered,
            candidate_criteria=candidates,
            qualifiers=qualifiers,
        )

    def _composite_mentions(self, mentions: list[_Mention], doc) -> list[_Mention]:
        """A composite concept is mentioned in a clause where each of its slots is; it
        takes the qualifier of its slots (a negated slot negates it)."""
        slots: dict[tuple[str, int], dict[int, list[_Mention]]] = {}
        for m in mentions:
            if m.label.startswith("k:"):
                _, name, index = m.label.split(":")
                slots.setdefault((name, m.clause), {}).setdefault(int(index), []).append(m)
        out = []
        for (name, clause), found in slots.items():
            if len(found) < len(self._composites[name]):
                continue
            parts = [ms[0] for _, ms in sorted(found.items())]
            start, end = min(p.start for p in parts), max(p.end for p in parts)
            out.append(
                _Mention(
                    label="c:" + name,
                    start=start,
                    end=end,
                    text=doc[start:end].text,
                    sentence=parts[0].sentence,
                    qualifier=next((p.qualifier for p in parts if p.qualifier), ""),
                    clause=clause,
                )
            )
        return out

    # ------------------------------------------------------------------ qualifiers

    @staticmethod
    def _qualifier(span, sentence: str, whole: str = "") -> str:
        if span._.negation:
            return "negation"
        if span._.hypothesis:
            # "zona ?", "otite? bb 14 mois": the call-taker's note of what the call is
            # about, a motif to code (not a red flag: _criteria treats it as a suspicion)
            if span.label_.startswith("m:") and _question_mark_after(span):
                return ""
            return "hypothesis"
        if span._.history:
            return "history"
        # In a call the caller often speaks for a relative who IS the patient: a family
        # cue sets a mention aside only when the sentence tells a past event of theirs.
        if _PAST_MARKER.search(sentence):
            return "family" if span._.family else "history"
        # ... unless the caller says the call is for themselves ("son mari est sous chimio,
        # elle appelle pour elle-même", "mon père est en réa, moi je ne dors plus")
        if span._.family and _SELF_PATIENT.search(fold(span.doc.text)):
            return "family"
        if whole and (
            (_OUTCOME.search(whole) and _BEFORE_TODAY.search(whole))
            or ("hier" in whole and _EXPLORED.search(whole))
        ):
            return "family" if span._.family else "resolved"
        return ""

    # ------------------------------------------------------------------ red flags

    def _criteria(self, concepts: list[_Mention], facts, sentence_text: dict[int, str]):
        affirmative: dict[str, list[_Mention]] = {}
        loose: dict[str, list[_Mention]] = {}  # modifiers: any mention but negated/family
        for mention in concepts:
            name = mention.label[2:]
            if mention.qualifier == "":
                affirmative.setdefault(name, []).append(mention)
            if mention.qualifier in ("", "history", "resolved", "reported_speech"):
                loose.setdefault(name, []).append(mention)
        by_label: dict[str, list[_Mention]] = {}
        for mention in concepts:
            by_label.setdefault(mention.label[2:], []).append(mention)
        flags = facts.flags()
        if "fever_terms" in affirmative:
            flags.add("$fever")
        for fact, concept in (
            ("$pregnant", "pregnancy_terms"),
            ("$anticoagulant", "anticoagulant_terms"),
            ("$chemotherapy", "chemotherapy_terms"),
            ("$diabetes", "diabetes_terms"),
            ("$cardiac_history", "cardiac_history_terms"),
            ("$several_people", "several_people_terms"),
        ):
            if concept in loose:
                flags.add(fact)
        if "$fever" in flags and "$infant" in flags:
            flags.add("$infant_fever")
        triggered: list[str] = []
        candidates: list[str] = []
        set_aside: list[dict] = []
        # what is present for a criterion with nothing explained away and no resolved form
        # (most of them): a set lookup instead of the closure below
        simple = set(affirmative) | flags
        for cid, crit in self.criteria.items():
            explained_sentences = {
                m.sentence for name in crit.explained for m in affirmative.get(name, [])
            }
            if explained_sentences and crit.not_explained_with:
                explained_sentences -= {
                    m.sentence
                    for name in crit.not_explained_with
                    for m in affirmative.get(name, [])
                }

            def present(name: str, crit=crit, explained_sentences=explained_sentences) -> bool:
                if name.startswith("$"):
                    return name in flags
                found = [
                    m for m in affirmative.get(name, []) if m.sentence not in explained_sentences
                ]
                if found:
                    return True
                if crit.allow_resolved:
                    return any(
                        m.qualifier == "history"
                        and _RESOLVED.search(sentence_text.get(m.sentence, ""))
                        for m in by_label.get(name, ())
                    )
                return False

            if not explained_sentences and not crit.allow_resolved:
                present = simple.__contains__
            if any(all(present(n) for n in trigger) for trigger in crit.triggers):
                triggered.append(cid)
                continue
            # a suspicion ("j'ai peur que ce soit un AVC") does not trigger, but its
            # questions are worth asking
            core_present = any(present(n) for n in crit.core) or any(
                m.qualifier == "hypothesis" for n in crit.core for m in by_label.get(n, [])
            )
            if core_present:
                candidates.append(cid)
            for name in crit.core:
                for m in by_label.get(name, ()):
                    if m.qualifier:
                        set_aside.append(
                            {"text": m.text, "criterion": cid, "qualifier": m.qualifier}
                        )
                    elif m.sentence in explained_sentences:
                        set_aside.append(
                            {"text": m.text, "criterion": cid, "qualifier": "explained"}
                        )
        triggered.sort(key=lambda c: (self.criteria[c].priority, self._order[c]))
        seen = set()
        qualifiers = []
        for item in set_aside:
            key = (item["text"], item["criterion"], item["qualifier"])
            if key not in seen:
                seen.add(key)
                qualifiers.append(item)
        return triggered, candidates, qualifiers

    # ------------------------------------------------------------------ CISP-2

    def _lead_with_red_flag(
        self,
        suggestions: list[Suggestion],
        triggered: list[str],
        resolved: bool = False,
        present: frozenset[str] = frozenset(),
    ):
        """A call that raises a red flag is coded with that red flag's motif: the most
        severe organ-specific triggered criterion that names one, else the most severe
        generic one (a syncope, a severe dyspnoea...): "coeur à 180, la tête qui tourne"
        is K04 before N17, a seizure with loss of consciousness N07 before A06, a
        bronchiolitis with struggle R78 before R02. A stroke whose signs are over is
        coded as a TIA (the criterion's motif_resolved)."""
        codes = {c: self._criterion_motif(c, resolved, present) for c in triggered}
        text_rank = {s.code: i for i, s in enumerate(suggestions)}

        def precedence(cid: str) -> tuple[bool, int]:
            # specific criteria in severity order; generic ones after them, the one whose
            # motif the words themselves suggest first ("confuse et fièvre": P20)
            generic = self.criteria[cid].lead == "generic"
            return generic, text_rank.get(codes[cid], 99) if generic else 0

        ranked = sorted((c for c in triggered if codes[c]), key=precedence)
        if not ranked:
            return suggestions
        code = codes[ranked[0]]
        rest = [s for s in suggestions if s.code != code]
        score = max([s.score for s in suggestions] + [0.9])
        lead = Suggestion(code=code, label=self._by_code[code].label, score=score)
        return [lead, *rest]

    def _criterion_motif(self, cid: str, resolved: bool, present: frozenset[str]) -> str:
        crit = self.criteria[cid]
        code = crit.motif
        for motif, names in crit.motif_if:
            if any(n in present for n in names):
                code = motif
                break
        if resolved and crit.motif_resolved:
            code = crit.motif_resolved
        return code if code in self._by_code else ""

    def _with_past_episode(self, suggestions, mentions, doc, facts) -> list[Suggestion]:
        """A call about a past episode (a renewal, a certificate, a check-up after it: "AVC
        il y a 5 ans, ordonnance de kiné", "malaise vagal il y a 15 jours, certificat") is
        coded with that episode's motif; today's complaints, if any, come first ("ATCD
        méningite, là juste un rhume": R74). Never a red flag: ranking only."""
        current = {s.code: s for s in suggestions}
        past = self._rank(mentions, doc, facts, keep=("history", "resolved", "hypothesis"))
        merged = dict(current)
        for s in past:
            if s.code not in merged:
                merged[s.code] = Suggestion(s.code, s.label, round(s.score * _PAST_WEIGHT, 3))
        return sorted(merged.values(), key=lambda s: -s.score)

    def _rank(self, mentions: list[_Mention], doc, facts, keep=()) -> list[Suggestion]:
        by_part: dict[str, list[_Mention]] = {}
        for m in mentions:
            if m.qualifier in ("negation", "hypothesis", "history", "resolved", "family") and (
                m.qualifier not in keep
            ):
                continue
            by_part.setdefault(m.label, []).append(m)
        content = {
            t.i for t in doc if t.norm_.isalpha() and t.norm_ not in FILLERS and len(t.norm_) > 2
        }
        hits: dict[str, list[tuple[float, frozenset[int], bool]]] = {}
        candidates = sorted({i for label in by_part for i in self._by_label.get(label, ())})
        for index in candidates:
            code, weight, groups, ordered = self._expressions[index]
            positions = _expression_positions(groups, ordered, by_part)
            if positions is None:
                continue
            corrected = any(
                doc[i].norm_ != doc[i].lower_ and doc[i].norm_ != fold(doc[i].text)
                for i in positions
            )
            hits.setdefault(code, []).append((weight, frozenset(positions), corrected))
        # an earache with a fever in a child is an acute otitis media (HAS 2016)
        if (
            "H01" in hits
            and "H71" in self._by_code
            and facts.flags() & {"$fever", "$child"}
            == {
                "$fever",
                "$child",
            }
        ):
            hits.setdefault("H71", []).append((1.05, frozenset(), False))
        # measured vital signs name a motif even without its words ("bb 2 mois T 38,7")
        for code, measured, weight in (
            ("A03", facts.temperature is not None and facts.temperature >= 38.0, 0.9),
            ("K85", facts.systolic is not None and facts.systolic >= 140, 0.85),
            ("R02", facts.spo2 is not None and facts.spo2 < 94, 0.8),
        ):
            if measured and code in self._by_code:
                hits.setdefault(code, []).append((weight, frozenset(), False))
        if not hits:
            return []
        raw: dict[str, float] = {}
        best: dict[str, frozenset[int]] = {}
        for code, code_hits in hits.items():
            code_hits.sort(key=lambda h: (-h[0] * (0.93 if h[2] else 1.0), -len(h[1])))
            weight, positions, corrected = code_hits[0]
            covered = set().union(*(h[1] for h in code_hits)) & content
            coverage = len(covered) / max(1, len(content))
            extra = len({h[1] for h in code_hits}) - 1
            raw[code] = weight * (0.93 if corrected else 1.0) * (
                0.72 + 0.28 * coverage
            ) + 0.03 * min(extra, 2)
            best[code] = positions
        for code, positions in best.items():
            if positions and any(other != code and positions < p for other, p in best.items()):
                raw[code] *= 0.85  # a more specific expression explains the same words
        # CISP-2 codes at the most precise level the call supports: a diagnosis (component
        # 7, codes 70-99: "bronchite", "cystite", "otite ?") that one of its own strong
        # expressions names outranks the symptoms (component 1, codes 01-29) it explains
        # ("bronchite, je tousse gras": R78 before R05).
        if any(_component(c) == "symptom" for c in raw):
            for code, code_hits in hits.items():
                if _component(code) == "diagnosis" and code_hits[0][0] >= _DIAGNOSIS_NAMED:
                    raw[code] *= _DIAGNOSIS_BOOST
        ordered = sorted(raw, key=lambda c: (-round(raw[c], 6), min(best[c], default=10**6), c))
        return [
            Suggestion(
                code=code,
                label=self._by_code[code].label,
                score=round(min(1.0, max(0.0, raw[code])), 3),
            )
            for code in ordered
        ]


_PAST_WEIGHT = float(__import__("os").environ.get("RELAIS_PAST_WEIGHT", "0.85"))
_DIAGNOSIS_NAMED = float(__import__("os").environ.get("RELAIS_DX_NAMED", "0.9"))
_DIAGNOSIS_BOOST = float(__import__("os").environ.get("RELAIS_DX_BOOST", "1.15"))


def _component(code: str) -> str:
    """CISP-2 component of a code: 01-29 symptoms and complaints, 70-99 diagnoses."""
    number = int(code[1:]) if code[1:].isdigit() else 0
    return "diagnosis" if number >= 70 else "symptom" if number < 30 else "other"


def _question_mark_after(span) -> bool:
    """ "zona ?", "otite? bb 14 mois", "toux, la grippe?": a motif written as a question
    at the head of its clause (not "est-ce que ça peut être un AVC ?")."""
    doc = span.doc
    if span.end >= len(doc) or not doc[span.end].text.startswith("?"):
        return False
    for token in reversed(doc[max(0, span.start - 6) : span.start]):
        if token.is_punct or token.is_sent_start:
            return token.is_punct or fold(token.text) in FILLERS
        if fold(token.text) not in FILLERS:
            return False
    return span.start == 0 or doc[span.start - 1].is_punct


_MODALS = frozenset({"arrive", "arrivait", "peut", "peux", "pouvait", "sait", "sais", "veut"})


def _no_more(doc, span) -> bool:
    """'n'a plus de fièvre': eds.negation has no "ne ... plus de" (and "ne répond plus" is
    a symptom, not a denial); applied to CISP-2 motifs only, never to red flags."""
    if span.start < 3 or doc[span.start - 1].norm_ not in ("de", "d'"):
        return False  # the usual case, without building the window
    before = [t.norm_ for t in doc[max(span.sent.start, span.start - 5) : span.start]]
    if _MODALS & set(before) or len(before) < 3 or before[-1] not in ("de", "d'"):
        return False
    return before[-2] == "plus" and any(w in ("ne", "n'", "n") for w in before[:-2])


_PRESENT = frozenset(
    {
        "maintenant",
        "actuellement",
        "aujourd",
        "aujourd'hui",
        "desormais",
        "now",
        "today",
        "currently",
        "depuis",
        "mais",
        "but",
        "sauf",
        "cependant",
        "pourtant",
    }
)


def _is_present_marker(doc, token) -> bool:
    """Where a sentence comes back to the present: "maintenant", "depuis" (ongoing),
    "mais", "ce matin", "ce soir", "cette nuit"."""
    word = fold(token.text)
    if word == "depuis" and token.i > 0:
        # "plus rien depuis", "va bien depuis", "depuis plus rien": the outcome of the past
        # episode, not a return to the present
        after = fold(doc[token.i + 1].text) if token.i + 1 < len(doc) else ""
        before = fold(doc[token.i - 1].text)
        return before not in ("rien", "bien", "mieux", "normal", "ok") and after not in (
            "plus",
            "rien",
            "ca",
        )
    if word in _PRESENT or token.text.lower() == "là":
        return True
    if word in ("matin", "soir", "nuit", "aprem", "apres-midi") and token.i > 0:
        return fold(doc[token.i - 1].text) in ("ce", "cette", "hier")
    return False


_CLAUSE_BREAKS = frozenset({",", ";", ":", "(", ")", "mais", "but", "-", "/"})


def _expression_positions(groups, ordered, by_part) -> set[int] | None:
    """Token positions an expression covers, or None when it is not in the text."""
    positions: set[int] = set()
    for labels in groups:
        if any(label not in by_part for label in labels):
            return None
        found = None
        sentences = set.intersection(*({m.sentence for m in by_part[lb]} for lb in labels))
        for sentence in sorted(sentences):
            chosen = [next(m for m in by_part[lb] if m.sentence == sentence) for lb in labels]
            if ordered and any(
                b.start < a.end or b.start - a.end > 3
                for a, b in zip(chosen, chosen[1:], strict=False)
            ):
                continue
            found = chosen
            break
        if found is None:
            return None
        for m in found:
            positions.update(range(m.start, m.end))
    return positions


_BUILD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _shared_matcher() -> MotifMatcher:
    return MotifMatcher()


def get_matcher() -> MotifMatcher:
    """The shared matcher: building the pipeline takes a couple of seconds, once. A lock,
    so that a request arriving while warm() builds it in the background waits for that
    build instead of starting a second one."""
    with _BUILD_LOCK:
        return _shared_matcher()


get_matcher.cache_clear = _shared_matcher.cache_clear  # type: ignore[attr-defined]


def warm(*, background: bool = False):
    """Build the shared matcher now (and run one text through it, so that lazily loaded
    parts are loaded too) instead of on the first suggestion of a process, which would
    then take 5-15 s. Called by gunicorn's post_worker_init hook (deploy/gunicorn.conf.py)
    and by `relais serve_demo` (background=True: a daemon thread, startup not delayed);
    never at import time. Returns the thread when background, else the matcher."""
    if background:
        thread = threading.Thread(target=warm, name="relais-matcher-warm", daemon=True)
        thread.start()
        return thread
    matcher = get_matcher()
    matcher.match("douleur thoracique depuis ce matin")
    return matcher
