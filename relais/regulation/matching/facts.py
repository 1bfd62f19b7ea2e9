"""Facts read from the normalised text: the patient's age and sex, vital signs.

edsnlp has no rule for the shorthand callers use ("bb 4 mois", "mamie 88 ans", "sat 89",
"TA 19/11", "39,5"), so these are small regexes on eds.normalizer's output, with the
clinical thresholds the referential names ($spo2_low, $bp_severe...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NUM = r"(\d{1,3}(?:[.,]\d{1,2})?)"


@dataclass
class Facts:
    age_months: float | None = None  # from the text or the record
    age_source: str = ""
    sex: str | None = None
    infant_word: bool = False
    newborn_word: bool = False
    child_word: bool = False
    elderly_word: bool = False
    temperature: float | None = None
    spo2: int | None = None
    pulse: int | None = None
    systolic: int | None = None
    diastolic: int | None = None
    pregnancy_weeks: int | None = None
    notes: list[str] = field(default_factory=list)

    def flags(self) -> set[str]:
        out: set[str] = set()
        months = self.age_months
        if months is not None:
            if months < 3:
                out.add("$infant_lt3m")
            if months < 1:
                out.add("$newborn")
            if months < 24:
                out.add("$infant")
            if months < 15 * 12:
                out.add("$child")
            if months >= 75 * 12:
                out.add("$elderly")
        else:
            if self.newborn_word:
                out |= {"$newborn", "$infant_lt3m", "$infant", "$child"}
            if self.infant_word:
                out |= {"$infant", "$child"}
            if self.child_word:
                out.add("$child")
            if self.elderly_word:
                out.add("$elderly")
        if self.pregnancy_weeks is not None:
            out.add("$pregnant")
        if self.temperature is not None and self.temperature >= 38.0:
            out.add("$fever")
            if self.temperature >= 39.0:
                out.add("$fever_high")
        if self.spo2 is not None and self.spo2 < 92:
            out.add("$spo2_low")
        if self.pulse is not None:
            if self.pulse >= 130:
                out.add("$tachycardia")
            if self.pulse < 40:
                out.add("$bradycardia")
        if self.systolic is not None:
            if self.systolic >= 180 or (self.diastolic or 0) >= 110:
                out.add("$bp_severe")
            if self.systolic < 90:
                out.add("$hypotension")
        return out


_AGE_YEARS = re.compile(r"(?<![\w,.])(\d{1,3})\s*(?:ans|an|a|yo|years? old|y/o)(?![\w])")
_AGE_MONTHS = re.compile(r"(?<![\w,.])(\d{1,2})\s*(?:mois|months?|m)(?![\w])")
_AGE_WEEKS = re.compile(r"(?<![\w,.])(\d{1,2})\s*(?:semaines?|sem|weeks?)(?![\w])")
_AGE_DAYS = re.compile(r"(?<![\w,.])(\d{1,2})\s*(?:jours?|j|days?)(?![\w])")
_DURATION_BEFORE = re.compile(
    r"(?:depuis|pendant|il y a|ya|dans|for|since|ago|tous les|toutes les|apres|en|de grossesse"
    r"|enceinte de|enceinte|grossesse|sa|ca fait|deja|plus de|moins de)\s*$"
)
_BABY = re.compile(r"\b(?:bb|bebe|nourrisson|nrs|baby|newborn|infant|nouveau\W*ne|nne)\b")
_NEWBORN = re.compile(r"\b(?:nouveau\W*nee?s?|nne|newborn|ne il y a|ne le|ne hier|neonat\w*)\b")
_CHILD = re.compile(
    r"\b(?:enfant|gamin|gamine|petit garcon|petite fille|ado|adolescent\w*|collegien\w*|"
    r"ecolier\w*|child|kid|toddler|boy|girl|fillette|garconnet|bambin)\b"
)
_ELDERLY = re.compile(
    r"\b(?:mamie|mamy|papi|papy|grand\W*mere|grand\W*pere|grand\W*parent\w*|"
    r"personne agee|agee|age de 9\d|ehpad|octogenaire|nonagenaire|grandma|grandpa|"
    r"elderly|aieule|mem[ée]|pepe)\b"
)
_FEMALE = re.compile(r"\b(?:elle|madame|mme|femme|fille|mere|maman|enceinte|patiente|f)\b")
_MALE = re.compile(r"\b(?:il|monsieur|m\.|homme|fils|pere|papa|patient|h)\b")
_TEMP_CONTEXT = re.compile(
    r"(?:fievre|fiev|temp\w*|thermo\w*|febri\w*|t|t°|a|fever|de|hyperthermie)\W*$"
)
_TEMP = re.compile(r"(?<![\d/.,])(3[5-9]|4[0-2])(?:\s*[.,°]\s*(\d))?\s*(°|degres?|c\b)?")
_SPO2 = re.compile(r"\b(?:sat\w*|spo2|so2|sp02|oxygen\w*|saturometre|o2)\b\D{0,12}?(\d{2,3})\s*%?")
_PULSE = re.compile(
    r"\b(?:pouls|fc|frequence cardiaque|pulse|heart rate|hr|coeur (?:bat )?a)\b\D{0,10}?(\d{2,3})"
    r"|(\d{2,3})\s*(?:bpm|/\s*min|pulsations|battements)"
)
_BP = re.compile(
    r"\b(?:tension|ta|pa|pression arterielle|bp|blood pressure)\b\D{0,12}?(\d{1,3})"
    r"(?:\s*[/,.-]\s*(\d{1,3}))?"
)


def read(norm_text: str, *, age_years: int | None = None, sex: str | None = None) -> Facts:
    """Facts from eds.normalizer's text (lower case, no accents) and the patient record."""
    text = norm_text
    facts = Facts()
    facts.newborn_word = bool(_NEWBORN.search(text))
    facts.infant_word = bool(_BABY.search(text)) or facts.newborn_word
    facts.child_word = bool(_CHILD.search(text))
    facts.elderly_word = bool(_ELDERLY.search(text))
    months = _age_from_text(text, facts)
    if months is not None:
        facts.age_months, facts.age_source = months, "text"
    elif age_years == 0:  # under one year: an infant, not necessarily under 3 months
        facts.infant_word, facts.age_source = True, "record"
    elif age_years is not None and 0 < age_years < 130:
        facts.age_months, facts.age_source = float(age_years * 12), "record"
    if sex in ("F", "M"):
        facts.sex = sex
    elif _FEMALE.search(text) and not _MALE.search(text):
        facts.sex = "F"
    pregnancy = _PREGNANCY.search(text)
    if pregnancy:
        facts.pregnancy_weeks = int(pregnancy.group(1))
    _vitals(text, facts)
    return facts


_PREGNANCY = re.compile(
    r"(?<![\w,.])(\d{1,2})\s*(?:sa|semaines? d'?\s?amenorrhee|semaines? de grossesse|"
    r"sem(?:aines)? de grossesse|weeks pregnant)(?![\w])"
)


def _not_duration(text: str, start: int) -> bool:
    return not _DURATION_BEFORE.search(text[max(0, start - 24) : start])


def _age_from_text(text: str, facts: Facts) -> float | None:
    for match in _AGE_DAYS.finditer(text):
        if facts.infant_word and _not_duration(text, match.start()):
            return int(match.group(1)) / 30
    for match in _AGE_WEEKS.finditer(text):
        if facts.infant_word and _not_duration(text, match.start()):
            return int(match.group(1)) / 4.3
    for match in _AGE_MONTHS.finditer(text):
        unit = text[match.end(1) : match.end()].strip()
        if unit == "m" and not facts.infant_word:
            continue
        if _not_duration(text, match.start()):
            return float(match.group(1))
    for match in _AGE_YEARS.finditer(text):
        value = int(match.group(1))
        if value > 120 or not _not_duration(text, match.start()):
            continue
        return float(value * 12)
    return None


def _number(raw: str) -> float:
    return float(raw.replace(",", "."))


def _vitals(text: str, facts: Facts) -> None:
    for match in _TEMP.finditer(text):
        before = text[max(0, match.start() - 16) : match.start()]
        whole = int(match.group(1))
        decimal = match.group(2)
        unit = match.group(3)
        after = text[match.end() : match.end() + 8]
        if not decimal and re.match(
            r"\s*(?:ans|an|a\b|mois|kg|sa\b|semaines|min|h\b|/|%|x|fois|bpm)", after
        ):
            continue
        if decimal or unit or _TEMP_CONTEXT.search(before):
            value = whole + (int(decimal) / 10 if decimal else 0)
            if 35 <= value <= 43:
                facts.temperature = max(facts.temperature or 0, value)
    for match in _SPO2.finditer(text):
        value = int(match.group(1))
        if 50 <= value <= 100:
            facts.spo2 = min(facts.spo2 or 100, value)
    for match in _PULSE.finditer(text):
        value = int(match.group(1) or match.group(2))
        if 20 <= value <= 250:
            facts.pulse = max(facts.pulse or 0, value)
    for match in _BP.finditer(text):
        systolic = int(match.group(1))
        diastolic = int(match.group(2)) if match.group(2) else None
        if systolic < 30:  # French cmHg ("18/10", "tension à 20")
            systolic *= 10
            if diastolic is not None and diastolic < 20:
                diastolic *= 10
        if 50 <= systolic <= 300:
            facts.systolic = max(facts.systolic or 0, systolic)
            if diastolic is not None and 30 <= diastolic <= 200:
                facts.diastolic = max(facts.diastolic or 0, diastolic)
