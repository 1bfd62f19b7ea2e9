"""Measure the matcher on a file of phrasings (relais motif_accuracy, regression tests).

Columns: text,expected_code,red_flag (oui/non) and, optionally, criterion and trap (the
blind sets). A blind set's criterion names are mapped onto the referential's ids below.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Names used by tests/regulation/blind/blind-2026-12-01.csv -> referential ids.
CRITERION_ALIASES = {
    "acute_coronary_syndrome": "acs",
    "stroke_tia": "stroke",
    "suicidal_plan": "suicidal",
    "meningeal_syndrome": "meningeal",
    "bronchiolitis_struggle": "bronchiolitis_severe",
    "dyspnoea_at_rest": "dyspnea_severe",
    "head_injury_anticoagulant": "head_injury",
    "head_injury_loss_of_consciousness": "head_injury",
    "infant_head_injury": "head_injury",
    "fever_purpura": "purpura_fever",
    "acute_glaucoma_vision_loss": "eye_emergency",
    "massive_rectal_bleeding": "rectal_bleeding_massive",
    "fever_under_chemotherapy": "fever_chemotherapy",
    "elderly_on_floor": "elderly_fall",
    "hypertensive_emergency_neuro": "hypertensive_emergency",
    "haematemesis_melaena": "gi_bleeding",
    "tachycardia_chest_pain": "tachycardia_severe",
    "overdose": "intoxication",
    "co_poisoning": "intoxication",
    "syncope_effort": "syncope_severe",
    "seizure_ongoing": "seizure",
    "infant_fever_under_3_months": "fever_infant_3m",
    "acute_limb_ischaemia": "limb_ischemia",
    "chemical_eye_splash": "chemical_eye",
    "severe_asthma": "asthma_severe",
    "newborn_bilious_vomiting": "bilious_vomiting_newborn",
    "infant_dehydration": "dehydration_infant",
    "acute_confusion": "confusion_acute",
    "arterial_bleeding": "external_bleeding",
    "pre_eclampsia": "pregnancy_emergency",
    "pregnancy_bleeding": "pregnancy_emergency",
    "angioedema": "anaphylaxis",
    "severe_burn_child": "burns_severe",
    "child_face_bite": "bite_child_face",
    "severe_hypoglycaemia": "metabolic_emergency",
    "diabetic_ketoacidosis": "metabolic_emergency",
    "heat_stroke": "heat_stroke",
    "major_trauma": "major_trauma",
    "electrocution": "major_trauma",
    "choking_foreign_body": "choking",
    "upper_airway_obstruction": "choking",
}


@dataclass(frozen=True)
class Phrasing:
    text: str
    expected_code: str
    red_flag: bool
    criterion: str = ""  # referential id (mapped) when the file names one
    trap: str = ""


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
    p50_ms: float = 0.0
    cpu_p95_ms: float = 0.0  # CPU time of this process: what the suggestion costs on a
    # machine whose cores are shared (wall-clock p95 includes waiting for a core)
    misses_by_criterion: dict[str, tuple[int, int]] = field(default_factory=dict)
    false_alarms_by_trap: dict[str, tuple[int, int]] = field(default_factory=dict)


def load_phrasings(path: str | Path) -> list[Phrasing]:
    """Read a phrasings file (columns text,expected_code,red_flag[,criterion,trap])."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return [
            Phrasing(
                text=row["text"],
                expected_code=(row.get("expected_code") or "").strip(),
                red_flag=(row.get("red_flag") or "").strip().lower() == "oui",
                criterion=CRITERION_ALIASES.get(
                    (row.get("criterion") or "").strip(), (row.get("criterion") or "").strip()
                ),
                trap=(row.get("trap") or "").strip(),
            )
            for row in csv.DictReader(handle)
            if row.get("text")
        ]


def evaluate(phrasings: Sequence[Phrasing], matcher) -> Evaluation:
    """Top-1/top-3 accuracy, red-flag recall and precision, misses per criterion, false
    alarms per trap kind, time per suggestion (in-process), of `matcher` (get_matcher():
    passed in, so this module never imports the matcher that re-exports it)."""
    top1 = top3 = 0
    timings: list[float] = []
    cpu: list[float] = []
    missed_codes: list[Phrasing] = []
    missed_flags: list[Phrasing] = []
    false_flags: list[Phrasing] = []
    flagged_right = 0
    by_criterion: Counter = Counter()
    missed_by_criterion: Counter = Counter()
    by_trap: Counter = Counter()
    false_by_trap: Counter = Counter()
    for phrasing in phrasings:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = matcher.match(phrasing.text)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        codes = [s.code for s in result.suggestions]
        top1 += codes[:1] == [phrasing.expected_code]
        if phrasing.expected_code in codes[:3]:
            top3 += 1
        else:
            missed_codes.append(phrasing)
        if phrasing.red_flag:
            key = phrasing.criterion or "(sans critère)"
            by_criterion[key] += 1
            if result.red_flag:
                flagged_right += 1
            else:
                missed_flags.append(phrasing)
                missed_by_criterion[key] += 1
        else:
            kind = phrasing.trap or "ordinary"
            by_trap[kind] += 1
            if result.red_flag:
                false_flags.append(phrasing)
                false_by_trap[kind] += 1
    total = len(phrasings)
    red_total = sum(p.red_flag for p in phrasings)
    raised = flagged_right + len(false_flags)
    timings.sort()
    cpu.sort()

    def percentile(q: float) -> float:
        return timings[min(len(timings) - 1, int(q * len(timings)))] if timings else 0.0

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
        p95_ms=percentile(0.95),
        p50_ms=percentile(0.50),
        cpu_p95_ms=cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))] if cpu else 0.0,
        missed_codes=missed_codes,
        missed_flags=missed_flags,
        false_flags=false_flags,
        misses_by_criterion={
            k: (missed_by_criterion[k], n) for k, n in sorted(by_criterion.items())
        },
        false_alarms_by_trap={k: (false_by_trap[k], n) for k, n in sorted(by_trap.items())},
    )
