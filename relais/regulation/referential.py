"""The red-flag referential: criteria, their sources and confirming questions, read from data.

The clinical content lives in ``data/red_flags.yaml`` (issue 15: "the referential is data, not
code"); this module only reads and checks it. Django-free, like the matcher that uses it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import yaml

RED_FLAGS_YAML = Path(__file__).resolve().parent / "data" / "red_flags.yaml"

PRIORITIES = ("P0", "P1")

# Facts the matcher computes from the text and the patient record rather than from words.
FACTS = frozenset(
    {
        "$infant_lt3m",
        "$infant",
        "$newborn",
        "$child",
        "$elderly",
        "$fever",
        "$fever_high",
        "$spo2_low",
        "$bp_severe",
        "$hypotension",
        "$tachycardia",
        "$bradycardia",
        "$several_people",
        "$pregnant",
        "$anticoagulant",
        "$chemotherapy",
        "$diabetes",
        "$cardiac_history",
        "$infant_fever",
    }
)


class ReferentialError(ValueError):
    """The referential file is malformed (raised at load time, never at request time)."""


@dataclass(frozen=True)
class Question:
    id: str  # stable, e.g. "acs.rest"
    text: str  # French yes/no question as an ARM asks it


@dataclass(frozen=True)
class Criterion:
    id: str
    label: str
    priority: str  # "P0" or "P1"
    source: str
    questions: tuple[Question, ...]
    # What the matcher reads (concept names from the referential's lexicon, or $facts).
    core: tuple[str, ...] = ()
    triggers: tuple[tuple[str, ...], ...] = ()
    explained: tuple[str, ...] = ()
    # concepts that void the explanation in their sentence: a faint after a few seconds
    # is vagal, but not during a match (ESC 2018: syncope on exertion is high risk)
    not_explained_with: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    allow_resolved: bool = False
    # The CISP-2 motif a call for this red flag is coded with (first suggestion when the
    # criterion triggers), "" when no single code fits.
    motif: str = ""
    # "generic" for a state shared by many conditions (a syncope, a severe dyspnoea, a
    # confusion, an external bleeding...): its motif leads only when no organ-specific
    # criterion with a motif triggered too (a seizure with loss of consciousness is N07,
    # a bronchiolitis with struggle R78, a suicide plan with unresponsiveness P77).
    lead: str = "specific"
    # the motif when the episode is over (a TIA: K89 rather than K90's stroke)
    motif_resolved: str = ""
    # (motif, concepts): the first motif one of whose concepts is mentioned affirmatively
    # replaces `motif` (a coronary pain with typical features is K01, a bare chest pain
    # A11; suicidal ideas are P03, a plan or an attempt P77)
    motif_if: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Referential:
    criteria: dict[str, Criterion]
    concepts: dict[str, tuple[str, ...]]
    abbreviations: dict[str, str] = field(default_factory=dict)
    # name -> slots: a concept also mentioned when one term of EVERY slot is found in the
    # same clause, in any order and at any distance ("la bouche est partie de travers":
    # a mouth word and a deviation word), see composites: in red_flags.yaml
    composites: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)


def _names(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReferentialError(f"{where}: expected a list of names")
    return tuple(value)


def _lead(value, where: str) -> str:
    value = str(value or "specific").strip()
    if value not in ("specific", "generic"):
        raise ReferentialError(f"{where}: lead must be 'specific' or 'generic'")
    return value


def load(path: str | Path | None = None) -> Referential:
    """Read and check the referential file."""
    raw = yaml.safe_load(Path(path or RED_FLAGS_YAML).read_text(encoding="utf-8")) or {}
    concepts: dict[str, tuple[str, ...]] = {}
    for name, terms in (raw.get("concepts") or {}).items():
        if not isinstance(terms, list) or not terms:
            raise ReferentialError(f"concept {name}: expected a non-empty list of terms")
        concepts[str(name)] = tuple(str(t) for t in terms)
    abbreviations = {str(k): str(v) for k, v in (raw.get("abbreviations") or {}).items()}
    composites: dict[str, tuple[tuple[str, ...], ...]] = {}
    for name, slots in (raw.get("composites") or {}).items():
        if (
            not isinstance(slots, list)
            or len(slots) < 2
            or not all(isinstance(slot, list) and slot for slot in slots)
        ):
            raise ReferentialError(f"composite {name}: expected at least two lists of terms")
        composites[str(name)] = tuple(tuple(str(t) for t in slot) for slot in slots)
        concepts.setdefault(str(name), ())

    def check(names: tuple[str, ...], where: str) -> tuple[str, ...]:
        for name in names:
            if name not in concepts and name not in FACTS:
                raise ReferentialError(f"{where}: unknown concept {name!r}")
        return names

    criteria: dict[str, Criterion] = {}
    for entry in raw.get("criteria") or []:
        cid = entry.get("id")
        where = f"criterion {cid}"
        if not cid or cid in criteria:
            raise ReferentialError(f"{where}: missing or duplicate id")
        if entry.get("priority") not in PRIORITIES:
            raise ReferentialError(f"{where}: priority must be one of {PRIORITIES}")
        for key in ("label", "source"):
            if not str(entry.get(key) or "").strip():
                raise ReferentialError(f"{where}: {key} is required")
        questions = tuple(
            Question(id=str(q["id"]), text=str(q["text"])) for q in entry.get("questions") or []
        )
        if not 1 <= len(questions) <= 3:
            raise ReferentialError(f"{where}: 1 to 3 questions expected")
        triggers = tuple(
            check(_names(t, f"{where} trigger"), f"{where} trigger")
            for t in entry.get("triggers") or []
        )
        if not triggers:
            raise ReferentialError(f"{where}: at least one trigger expected")
        criteria[cid] = Criterion(
            id=cid,
            label=str(entry["label"]).strip(),
            priority=entry["priority"],
            source=str(entry["source"]).strip(),
            questions=questions,
            core=check(_names(entry.get("core"), f"{where} core"), f"{where} core"),
            triggers=triggers,
            explained=check(_names(entry.get("explained"), where), f"{where} explained"),
            not_explained_with=check(
                _names(entry.get("not_explained_with"), where), f"{where} not_explained_with"
            ),
            modifiers=check(_names(entry.get("modifiers"), where), f"{where} modifiers"),
            never=tuple(str(n) for n in entry.get("never") or []),
            allow_resolved=bool(entry.get("allow_resolved", False)),
            motif=str(entry.get("motif") or "").strip(),
            lead=_lead(entry.get("lead"), where),
            motif_resolved=str(entry.get("motif_resolved") or "").strip(),
            motif_if=tuple(
                (
                    str(item.get("motif") or "").strip(),
                    check(_names(item.get("any"), f"{where} motif_if"), f"{where} motif_if"),
                )
                for item in entry.get("motif_if") or []
            ),
        )
    return Referential(
        criteria=criteria, concepts=concepts, abbreviations=abbreviations, composites=composites
    )


@functools.lru_cache(maxsize=1)
def referential() -> Referential:
    return load()


def criteria() -> dict[str, Criterion]:
    """All criteria, loaded once from data/red_flags.yaml, in the file's order."""
    return referential().criteria


def criterion(criterion_id: str) -> Criterion | None:
    return criteria().get(criterion_id)
