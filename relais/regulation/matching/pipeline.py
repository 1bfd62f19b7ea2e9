"""The EDS-NLP pipeline the matcher runs on every text.

eds.normalizer (case, accents, quotes, pollution) -> spelling (abbreviations and SMS
spelling corrected against the lexicon with rapidfuzz; words French already knows, from
wordfreq, are left alone) -> eds.sentences -> eds.matcher (regexes built from the lexicon,
on the normalised text) -> eds.negation, eds.family, eds.history (dates through eds.dates
when the text has one), eds.hypothesis on every matched span (not eds.reported_speech:
callers report the patient's own words).
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterable

# Words an expression may skip between two of its words (articles, prepositions,
# pronouns): "douleur dans la poitrine" matches the term "douleur poitrine".
FILLERS = frozenset(
    """
    a au aux de des du d la le les l un une en dans sur sous par pour avec chez ma mon mes
    ta ton tes sa son ses notre votre leur leurs ce cet cette ces me m te t se s lui y qui
    que qu il elle ils elles on je j tu nous vous niveau
    """.split()  # noqa: SIM905
)


def fold(text: str) -> str:
    """Lower case without accents, as eds.normalizer's NORM (used on lexicon terms)."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae").replace("’", "'")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_TAG = re.compile(r"<[^>]{0,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def sanitize(text: str, limit: int = 2000) -> str:
    """What reaches the pipeline: no NUL or control characters, no HTML tags or entities,
    no emoji or pictographs (replaced by a space), at most `limit` characters."""
    text = (text or "")[: limit * 2]
    text = _CONTROL.sub(" ", text)
    text = html.unescape(_TAG.sub(" ", text))
    text = "".join(
        " " if unicodedata.category(c) in ("So", "Sk", "Cs", "Co", "Cn") else c for c in text
    )
    return text[:limit]


def _words_of(term: str) -> list[str]:
    return [w for w in re.split(r"[\s'\-]+", fold(term).strip()) if w.strip("*")]


def vocabulary(terms: Iterable[str]) -> tuple[set[str], set[str]]:
    """(whole words, prefixes) of a list of lexicon terms; a prefix is a word written
    with a trailing * ("douleur*"), kept when it has at least 4 letters."""
    words: set[str] = set()
    stems: set[str] = set()
    for term in terms:
        for word in re.split(r"[\s'\-|+=~]+", fold(term)):
            if word.endswith("*") and len(word) > 4 and word[:-1].isalpha():
                stems.add(word[:-1])
            elif word.strip("*").isalpha():
                words.add(word.strip("*"))
    return words, stems


def _kept(previous: str, word: str) -> bool:
    """A filler kept where it makes the meaning: "d'un coup" (suddenly) is not "un coup"."""
    return previous == "d" and word in ("un", "une")


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Speller:
    """Per token of the text, after eds.normalizer:
    - SMS abbreviations expanded ("bcp" -> "beaucoup");
    - words that are neither French (wordfreq's list) nor in the lexicon corrected to the
      closest lexicon word (rapidfuzz Levenshtein: one edit up to 6 letters, two beyond);
    - a word starting with a lexicon prefix reduced to it ("douloureuse" -> "doulour"), the
      same reduction the lexicon's terms get, so eds.matcher's exact phrase matching works
      on inflections;
    - articles, prepositions and pronouns marked excluded (skipped by eds.matcher only; the
      qualifiers still read them: "pas de")."""

    def __init__(self, words: set[str], stems: set[str], abbreviations: dict[str, str]):
        from wordfreq import top_n_list

        self.words = sorted(words)
        self.stems = stems
        self.stem_lengths = sorted({len(s) for s in stems})
        self.stems_by_length = {
            n: sorted(s for s in stems if len(s) == n) for n in self.stem_lengths
        }
        self.abbreviations = {
            fold(k): fold(v) for k, v in abbreviations.items() if " " not in v.strip()
        }
        # plain French (and the English of the callers who write in English) is left alone
        self.french = {fold(w) for w in top_n_list("fr", 80000)}
        self.french |= {fold(w) for w in top_n_list("en", 20000)}
        self.known = set(words) | self.french
        # words of the qualifier cues added here, left as they are: "could" reduced to a
        # lexicon prefix ("coul*") would no longer match the cue "could be"
        self.protected: set[str] = set()

    def canonical(self, word: str) -> str:
        """The longest lexicon prefix a word starts with, else the word."""
        for n in reversed(self.stem_lengths):
            if n <= len(word) and word[:n] in self.stems:
                return word[:n]
        return word

    def forms(self, word: str) -> list[str]:
        """What a term's word matches once text words are reduced: a prefix ("brul*")
        matches every reduction that extends it ("brul", "brulant", "brulure")."""
        if word.endswith("*"):
            stem = word[:-1]
            if stem in self.stems:
                return sorted(s for s in self.stems if s.startswith(stem))
            return [self.canonical(stem)]
        return [self.canonical(word)]

    def terms(self, term: str, cap: int = 64) -> list[str]:
        """A lexicon term as the phrases eds.matcher looks for (fillers dropped)."""
        raw = _words_of(term)
        words = [
            w
            for i, w in enumerate(raw)
            if w.rstrip("*") not in FILLERS or _kept(raw[i - 1] if i else "", w)
        ]
        if not words:
            return []
        phrases = [""]
        for word in words:
            phrases = [f"{p} {f}".strip() for p in phrases for f in self.forms(word)][:cap]
        return phrases

    def _is_known(self, token: str) -> bool:
        if token in self.known:
            return True
        return any(token[:n] in self.stems for n in self.stem_lengths if n <= len(token))

    @functools.lru_cache(maxsize=20000)  # noqa: B019 - one speller per process
    def correct(self, token: str) -> str:
        if token in self.abbreviations:
            return self.canonical(self.abbreviations[token])
        if len(token) < 4 or not token.isalpha():
            return token
        squeezed = re.sub(r"(.)\1{2,}", r"\1", token)  # "aaaaide", "fiiievre"
        if squeezed != token and self._is_known(squeezed):
            return self.canonical(squeezed)
        if self._is_known(token):
            return self.canonical(token)
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        cutoff = 1 if len(token) <= 5 else 2
        close = process.extract(
            token, self.words, scorer=Levenshtein.distance, score_cutoff=cutoff, limit=8
        )
        # two edits only when the first letter stands: typos and SMS spelling keep it
        # ("diaree" -> "diarrhee"), "recousu" is not "secous"
        close = [c for c in close if c[1] <= 1 or c[0][:1] == token[:1]]
        if close:
            # fewest edits, then the longest common beginning ("diaree" -> "diarrhee")
            best = min(close, key=lambda c: (c[1], -_common_prefix(token, c[0]), c[0]))
            return self.canonical(best[0])
        for n in reversed(self.stem_lengths):
            if n < 5 or n > len(token) + 1:
                continue
            hit = process.extractOne(
                token[:n], self.stems_by_length[n], scorer=Levenshtein.distance, score_cutoff=1
            )
            if hit is not None:
                return hit[0]
        return token

    def __call__(self, doc):
        excluded = doc.vocab.strings["EXCLUDED"]
        previous = ""
        for token in doc:
            norm = token.norm_
            if "œ" in norm or "æ" in norm:
                # eds.normalizer keeps the ligatures ("œil"); the lexicon is folded ("oeil")
                norm = token.norm_ = norm.replace("œ", "oe").replace("æ", "ae")
            bare = norm.rstrip("'")
            if bare != norm and len(bare) > 2 and bare not in FILLERS:
                norm = token.norm_ = bare  # "can't", "jusqu'", "lorsqu'"
            fixed = norm if bare in FILLERS or bare in self.protected else self.correct(norm)
            if fixed != norm:
                token.norm_ = fixed
                bare = fixed.rstrip("'")
            kept = _kept(previous, bare)
            previous = bare
            if bare in FILLERS and not kept:
                token._.excluded = True
                token.tag = excluded
        return doc


_HYPOTHESIS_EXTRA = [
    # "peur d'une péritonite": d' is dropped as a filler, "une" kept after it
    "peur une",
    "peur un",
    "crainte une",
    "crainte un",
    "craint une",
    "craint un",
    "inquiet une",
    "inquiete une",
    "inquiet un",
    "inquiete un",
    "afraid of",
    "peur d'avoir",
    "peur de faire",
    "peur que ce soit",
    "peur que ça soit",
    "j'ai lu que",
    "pouvait être",
    "pourrait être",
    "est-ce que",
    "se demande si",
    "je me demande",
    "ça pouvait",
    "ça pourrait",
    "worried it could",
    "could be",
    "might be",
    "afraid it",
    # the subjunctive after a fear or a doubt: "peur que son fils ait une torsion"
    "ait",
    "aient",
]
# Not negations: "n'arrive pas à respirer", "saignement non contrôlé" are the red flag itself.
_NEGATION_PSEUDO = [
    "n'arrive pas",
    "n'arrive plus",
    "ne peut pas",
    "ne peut plus",
    # "rapport non protégé" (emergency contraception) is a fact, not a negation
    "non protégé",
    "non protégés",
    "non calmé",
    "non calmée",
    "non soulagé",
    "non soulagée",
    "non contrôlé",
    "non contrôlée",
    "non résolutif",
    "ne cède pas",
    "ne passe pas",
    "ne s'arrête pas",
    "ne reprend pas",
    # a limb, a face that no longer moves or answers is the sign itself
    "ne bouge plus",
    "ne bouge pas",
    "ne répond plus",
    "ne sent plus",
    "ne tient plus",
    "n'obéit plus",
    "bouge plus",
    "répond plus",
    "sent plus",
    # the same in spoken / SMS French, without its "ne"
    "arrive pas",
    "arrive plus",
    "peut pas",
    "peut plus",
    "peux pas",
    "peux plus",
]
_NEGATION_EXTRA = ["no", "not", "without", "denies", "nie", "nie toute", "never", "jamais pensé"]
_HISTORY_EXTRA = [
    "il y a des années",
    "l'année dernière",
    "l'an dernier",
    "l'hiver dernier",
    "years ago",
    "ans plus tôt",
]


def build(terms: dict[str, list[str]], speller: Speller):
    """The edsnlp pipeline, spans of every concept in doc.spans["concepts"]."""
    import edsnlp
    import edsnlp.pipes as eds
    from edsnlp.pipes.qualifiers.history import patterns as history_patterns
    from edsnlp.pipes.qualifiers.hypothesis import patterns as hypothesis_patterns
    from edsnlp.pipes.qualifiers.negation import patterns as negation_patterns

    def cues(patterns: list[str]) -> list[str]:
        # eds.matcher marks fillers excluded; qualifier cues are matched with the
        # excluded tokens skipped, so each cue is also given without its fillers
        out = list(patterns)
        for cue in patterns:
            words = [w for w in re.split(r"[\s']+", fold(cue)) if w and w not in FILLERS]
            # never down to one word: "pas sûr" (not sure) is not the cue "pas"
            if len(words) > 1 and " ".join(words) != fold(cue):
                out.append(" ".join(words))
        return out

    for cue in _HYPOTHESIS_EXTRA + _NEGATION_EXTRA + _NEGATION_PSEUDO + _HISTORY_EXTRA:
        speller.protected.update(w for w in re.split(r"[\s'\-]+", fold(cue)) if len(w) > 3)
    spans = {"concepts": True}
    nlp = edsnlp.blank("eds")
    nlp.add_pipe(eds.normalizer())
    nlp.add_pipe(eds.sentences())
    nlp.add_pipe(eds.matcher(terms=terms, attr="NORM", ignore_excluded=True, span_setter=spans))
    nlp.add_pipe(
        eds.negation(
            span_getter=spans,
            preceding=cues(list(negation_patterns.preceding) + _NEGATION_EXTRA),
            pseudo=cues(list(negation_patterns.pseudo) + _NEGATION_PSEUDO),
        )
    )
    nlp.add_pipe(eds.family(span_getter=spans))
    nlp.add_pipe(
        eds.history(
            span_getter=spans,
            history=cues(list(history_patterns.history) + _HISTORY_EXTRA),
        )
    )
    # "idée de" is a hypothesis cue in clinical notes but "idées de suicide" is a red flag.
    preceding = [p for p in hypothesis_patterns.preceding if p != "idée de"]
    # "reprendre" is one of eds.hypothesis's verbs (resuming a treatment), but "n'arrive pas
    # à reprendre son souffle" is a dyspnoea
    hypothesis_pseudo = list(hypothesis_patterns.pseudo) + [
        "reprendre son souffle",
        "reprendre sa respiration",
        "reprend son souffle",
        "reprend pas son souffle",
    ]
    nlp.add_pipe(
        eds.hypothesis(
            span_getter=spans,
            preceding=cues(preceding + _HYPOTHESIS_EXTRA),
            pseudo=cues(hypothesis_pseudo),
            verbs_eds=[v for v in hypothesis_patterns.verbs_eds if v != "reprendre"],
        )
    )
    # eds.reported_speech is not run: callers report the patient's own words ("il dit qu'il
    # veut en finir"), so it never set a mention aside, and it cost ~0.2 ms a text.
    # Custom components go in last (edsnlp builds its matchers' patterns with the pipes
    # already there), before the matcher.
    nlp.add_pipe(speller, name="spelling", before="matcher")
    return nlp
