"""Reads around red flags (issue 15): which confirming questions to ask for a motif,
what the régulateur's banner shows, and the indicators' count of questions asked.

The referential itself (criteria, their priority and questions) is data, loaded by
`relais.regulation.referential` from `data/red_flags.yaml`; detection is
`relais.regulation.matching`. Writes (routing, answers, lifting/confirming) are in
`services.py`."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

# How many confirming questions are shown for one motif: the issue asks for 2 to 4 at
# intake, enough to confirm without turning a phone call into a questionnaire. The web and
# referral forms ask the same ones (one rule for every door).
MAX_QUESTIONS = 4

# Answer values posted by the forms (French, as in the web form's existing questions).
ANSWER_VALUES = {"oui": "yes", "non": "no", "nsp": "unknown"}

POLARITY_YAML = Path(__file__).resolve().parent / "data" / "red_flag_question_polarity.yaml"


@functools.cache
def _polarity() -> dict[str, str]:
    import yaml

    data = yaml.safe_load(POLARITY_YAML.read_text(encoding="utf-8")) or {}
    kinds = {"alarm_on_no": "no", "open": "open"}
    return {qid: kind for key, kind in kinds.items() for qid in data.get(key) or []}


def alarm_answer(question) -> str:
    """The answer that confirms the criterion: "yes" (most questions), "no" (questions
    worded the other way round), or "open" (not a yes/no question). A polarity carried by
    the referential itself (`question.alarm`) wins over the local table."""
    return getattr(question, "alarm", None) or _polarity().get(question.id, "yes")


def is_alarming(question, answer: str | None) -> bool:
    return answer is not None and answer == alarm_answer(question)


def referential_criteria() -> dict:
    """All criteria of the referential, {id: Criterion}; {} if the referential module is
    not installed yet (the detection then still raises labelled flags, without ids)."""
    try:
        from relais.regulation import referential
    except ImportError:  # pragma: no cover - the matcher helper ships it alongside
        return {}
    return referential.criteria()


def criterion_get(criterion_id: str):
    return referential_criteria().get(criterion_id)


def question_index() -> dict[str, tuple]:
    """{question id: (criterion, question)} over the whole referential."""
    return {
        question.id: (criterion, question)
        for criterion in referential_criteria().values()
        for question in criterion.questions
    }


def age_in_years(birth_date: date | None) -> int | None:
    if birth_date is None:
        return None
    today = timezone.localdate()
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    years = today.year - birth_date.year - before_birthday
    return max(years, 0)


def motif_match(text: str, *, age_years: int | None = None, sex: str | None = None):
    """The matcher's result for a motif, with the patient's age and sex when known."""
    from relais.regulation.matching import get_matcher

    matcher = get_matcher()
    text = (text or "")[:2000]
    try:
        return matcher.match(text, age_years=age_years, sex=sex or None, limit=1)
    except TypeError:  # a matcher without the age/sex keywords (before issue 15's rebuild)
        return matcher.match(text, limit=1)


@dataclass
class AskedCriterion:
    criterion: object
    triggered: bool  # True: the text alone raises it; False: a candidate to confirm
    questions: list = field(default_factory=list)  # yes/no questions asked
    prompts: list = field(default_factory=list)  # open questions, for the ARM only

    @property
    def yes_no_questions(self) -> list:
        return [q for q in self.criterion.questions if alarm_answer(q) != "open"]


def questions_for(result) -> list[AskedCriterion]:
    """The criteria whose questions to ask for a match result (triggering ones first,
    then candidates), with at most MAX_QUESTIONS questions in all, taken in turn from
    each criterion so that every matched criterion gets at least its first question."""
    known = referential_criteria()
    ids = [(cid, True) for cid in getattr(result, "red_flag_criteria", None) or []]
    ids += [(cid, False) for cid in getattr(result, "candidate_criteria", None) or []]
    asked, seen = [], set()
    for cid, triggered in ids:
        if cid in seen or cid not in known or not known[cid].questions:
            continue
        seen.add(cid)
        item = AskedCriterion(criterion=known[cid], triggered=triggered)
        item.prompts = [q for q in item.criterion.questions if alarm_answer(q) == "open"]
        asked.append(item)
    total, depth = 0, 0
    while total < MAX_QUESTIONS and any(depth < len(a.yes_no_questions) for a in asked):
        for item in asked:
            pool = item.yes_no_questions
            if total < MAX_QUESTIONS and depth < len(pool):
                item.questions.append(pool[depth])
                total += 1
        depth += 1
    return [a for a in asked if a.questions or a.prompts]


def intake_questions(
    text: str, *, age_years: int | None = None, sex: str | None = None
) -> list[AskedCriterion]:
    if len((text or "").strip()) < 3:
        return []
    return questions_for(motif_match(text, age_years=age_years, sex=sex))


def posted_answers(data, asked: list[AskedCriterion]) -> dict[str, str | None]:
    """{question id: "yes" | "no" | "unknown" | None (not answered)} from a form's POST
    (fields `rfq_<question id>`, values oui / non / nsp)."""
    return {
        q.id: ANSWER_VALUES.get((data.get(f"rfq_{q.id}") or "").strip().lower())
        for item in asked
        for q in item.questions
    }


def red_flag_banner(req) -> dict:
    """What the request page and the régulateur's decision show about the alert: each
    criterion (label, priority, source) with the answers to its questions."""
    known = referential_criteria()
    answers = list(req.red_flag_answers.all())
    by_criterion: dict[str, list] = {}
    index = question_index()
    for a in answers:
        question = index[a.question_id][1] if a.question_id in index else None
        by_criterion.setdefault(a.criterion_id, []).append(
            {
                "question": question.text if question else a.question_id,
                "answer": a.answer,
                "label": a.get_answer_display(),
                "alarming": bool(question) and is_alarming(question, a.answer),
            }
        )
    rows = []
    for cid in req.red_flag_criteria or []:
        c = known.get(cid)
        rows.append(
            {
                "id": cid,
                "label": c.label if c else cid,
                "priority": c.priority if c else "",
                "source": c.source if c else "",
                "answers": by_criterion.pop(cid, []),
            }
        )
    # Answers to questions of criteria that did not trigger (candidates answered "non").
    others = [
        {"id": cid, "label": known[cid].label if cid in known else cid, "answers": rows_}
        for cid, rows_ in by_criterion.items()
    ]
    return {"criteria": rows, "other_answers": others}


def red_flag_question_stats(requests: QuerySet) -> list[dict]:
    """Indicators: per criterion, the confirming questions asked at intake over these
    requests, how many were answered "oui" (confirmed), "non", "ne sait pas", and on how
    many requests."""
    from relais.regulation.models import RedFlagAnswer

    known = referential_criteria()
    rows = (
        RedFlagAnswer.objects.filter(request__in=requests)
        .values("criterion_id")
        .annotate(
            asked=Count("pk"),
            confirmed=Count("pk", filter=Q(answer="yes")),
            denied=Count("pk", filter=Q(answer="no")),
            unknown=Count("pk", filter=Q(answer="unknown")),
            requests=Count("request", distinct=True),
        )
        .order_by("-asked", "criterion_id")
    )
    return [
        {
            **row,
            "label": known[row["criterion_id"]].label
            if row["criterion_id"] in known
            else row["criterion_id"],
        }
        for row in rows
    ]


def red_flag_panel(asked: list[AskedCriterion], answers: dict[str, str | None]) -> list[dict]:
    """The questions panel's rows: each criterion with its questions and the answer
    already given ("yes" / "no" / "unknown" / None), and its open prompts (ARM only)."""
    return [
        {
            "id": item.criterion.id,
            "label": item.criterion.label,
            "triggered": item.triggered,
            "questions": [
                {"id": q.id, "text": q.text, "answer": answers.get(q.id)} for q in item.questions
            ],
            "prompts": [q.text for q in item.prompts],
        }
        for item in asked
    ]


def any_alarming(asked: list[AskedCriterion], answers: dict[str, str | None]) -> bool:
    """An answer that confirms its criterion ("oui", or "non" to a question worded the
    other way round): on the web and referral forms, "Appelez le 15", nothing stored."""
    return any(is_alarming(q, answers.get(q.id)) for item in asked for q in item.questions)


def all_answered(asked: list[AskedCriterion], answers: dict[str, str | None]) -> bool:
    return all(answers.get(q.id) in ("yes", "no") for item in asked for q in item.questions)


def red_flag_question_stats_for(*, start: date, end: date, sas_ids=None, cpts_ids=None):
    """red_flag_question_stats over the requests of a period and territory (the
    indicators' definitions: created in [start, end] Paris dates, of these SAS / CPTS)."""
    from relais.indicators.selectors import _request_q, period_bounds
    from relais.regulation.models import Request

    lower, upper = period_bounds(start=start, end=end)
    requests = Request.objects.filter(
        _request_q(lower=lower, upper=upper, sas_ids=sas_ids, cpts_ids=cpts_ids)
    )
    return red_flag_question_stats(requests)
