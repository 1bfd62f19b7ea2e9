"""The motif matcher (relais/regulation/matching/, EDS-NLP based), without Django.

The three phrasing files are scored as a whole. They are REGRESSION sets: the lexicon was
tuned on them (phrasings.csv since the start, blind-2026-12-01.csv and blind-2026-12-02.csv
once their blind figures were recorded in docs/motif-evaluation.md), so the figures asserted
here only guard against going backwards; they say nothing about the next caller (a fresh
blind set does).
"""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relais.regulation import referential
from relais.regulation.matching import (
    MatchResult,
    MotifMatcher,
    evaluate,
    get_matcher,
    load_motifs,
    load_phrasings,
)

HERE = Path(__file__).parent
PHRASINGS = HERE / "phrasings.csv"
BLIND_2026_12_01 = HERE / "blind" / "blind-2026-12-01.csv"
BLIND_2026_12_02 = HERE / "blind" / "blind-2026-12-02.csv"
BLIND_2026_12_02B = HERE / "blind" / "blind-2026-12-02b.csv"
BLIND_2026_12_02C = HERE / "blind" / "blind-2026-12-02c.csv"


@pytest.fixture(scope="module")
def matcher() -> MotifMatcher:
    return get_matcher()


def _codes(result: MatchResult) -> list[str]:
    return [s.code for s in result.suggestions]


# --------------------------------------------------------------------------- regression sets


@pytest.fixture(scope="module")
def tuned_report(matcher):
    return evaluate(load_phrasings(PHRASINGS), matcher)


@pytest.fixture(scope="module")
def blind_report(matcher):
    return evaluate(load_phrasings(BLIND_2026_12_01), matcher)


@pytest.fixture(scope="module")
def second_blind_report(matcher):
    return evaluate(load_phrasings(BLIND_2026_12_02), matcher)


def test_regression_on_the_tuned_phrasings(tuned_report):
    # Regression check (tuned set), see docs/motif-evaluation.md, 2026-12-02, second round.
    assert tuned_report.total >= 500
    assert tuned_report.red_flag_recall >= 0.98, tuned_report.missed_flags
    assert tuned_report.false_positive_rate <= 0.005, tuned_report.false_flags
    # 0.94 -> 0.92 on 2026-12-02 (session 2): a coronary-type chest pain now leads with K01
    # and a suicide plan with P77, as the blind writers code them; this file codes both A11/P03
    assert tuned_report.top1 >= 0.92
    assert tuned_report.top3 >= 0.99


def test_regression_on_the_first_blind_set_now_tuned_on(blind_report):
    # Regression check: this set was blind on 2026-12-01 (recall 53.0 %, false alarms
    # 12.5 %, top-1 51.9 %, top-3 72.6 %) and has been tuned on since.
    assert blind_report.total == 285
    assert blind_report.red_flag_recall >= 0.99, blind_report.missed_flags
    assert blind_report.false_positive_rate <= 0.01, blind_report.false_flags
    assert blind_report.top1 >= 0.62
    assert blind_report.top3 >= 0.78


def test_regression_on_the_second_blind_set_now_tuned_on(second_blind_report):
    # Regression check: this set was blind on 2026-12-02 (recall 87.8 %, false alarms
    # 5.3 %, top-1 49.8 %, top-3 59.5 %) and has been tuned on since (second round).
    assert second_blind_report.total == 269
    assert second_blind_report.red_flag_recall >= 0.99, second_blind_report.missed_flags
    assert second_blind_report.false_positive_rate <= 0.01, second_blind_report.false_flags
    assert second_blind_report.top1 >= 0.63
    assert second_blind_report.top3 >= 0.70


def test_regression_on_the_third_blind_set_not_yet_tuned_on(matcher):
    # Regression check at the level measured blind on 2026-12-02 after the second round
    # (docs/motif-evaluation.md).
    report = evaluate(load_phrasings(BLIND_2026_12_02B), matcher)
    assert report.total == 296
    # session 2 of 2026-12-02: held out while the structure changed (87.5 %, 6.0 %), then
    # read and partly tuned on (99.0 %, 1.5 %, top-1 60.1 %): no longer a blind figure
    assert report.red_flag_recall >= 0.98, report.missed_flags
    assert report.false_positive_rate <= 0.02, report.false_flags
    assert report.top1 >= 0.59


def test_regression_on_the_fourth_blind_set_now_tuned_on(matcher):
    # Regression check: this set was blind on 2026-12-02 (recall 92.9 %, false alarms
    # 3.4 %, top-1 70.1 %, top-3 81.9 % before any tuning, docs/motif-evaluation.md), then
    # tuned on (matcher2's round: 100 %, 0.6 %, top-1 76.0 %, top-3 88.9 %).
    report = evaluate(load_phrasings(BLIND_2026_12_02C), matcher)
    assert report.total == 288
    assert report.red_flag_recall >= 0.99, report.missed_flags
    assert report.false_positive_rate <= 0.01, report.false_flags
    assert report.top1 >= 0.75
    assert report.top3 >= 0.88


@pytest.mark.parametrize(
    "text,criterion",
    [
        # a ligature ("œil") reads as the lexicon's "oeil"
        ("de la javel dans l'œil, ça brûle", "chemical_eye"),
        # a household medicine swallowed by a child
        ("ma fille de 2 ans a avalé des Dafalgan", "intoxication"),
        # a seizure that comes back without recovery between
        ("épileptique, 2e crise depuis une heure", "seizure"),
        # despair, the means at hand, a moment chosen
        ("j'en peux plus, tous mes cachets sont devant moi", "suicidal"),
        # a faint of a few seconds is vagal, but not during a match
        (
            "il est tombé dans les pommes quelques secondes pendant le match de basket",
            "syncope_severe",
        ),
        # streaks explain a haemoptysis away, frank blood does not
        ("crachats striés hier, ce matin il crache du sang franc", "haemoptysis"),
        # saddle numbness and a lay word for incontinence
        ("sciatique, engourdi entre les jambes", "cauda_equina"),
        ("lumbago, il s'est fait dessus sans le sentir", "cauda_equina"),
        # a refusal of the breast with struggle in an infant
        ("bébé 3 mois qui tousse, le ventre se creuse, il refuse le sein", "bronchiolitis_severe"),
    ],
)
def test_it_reads_the_blind_c_concepts(matcher, text, criterion):
    assert criterion in matcher.match(text).red_flag_criteria


@pytest.mark.parametrize(
    "text",
    [
        # the caller is the patient: a relative's treatment or event is set aside
        "son mari est sous chimio, elle appelle pour elle-même : angine avec 38,2",
        "mon père a fait un arrêt cardiaque, il est en réa, moi je n'arrive plus à dormir",
        # a tonsillitis explains a swollen throat away
        "ado 16a, amygdales blanches et gonflées, 38.7, mal à avaler",
        # a fear ("inquiète d'un") is a hypothesis
        "cliente inquiète d'un œdème de Quincke, quelques boutons sur les bras",
        # a vagal faint at rest stays explained
        "malaise vagal à la prise de sang, quelques secondes, va bien",
        # streaks alone stay explained
        "quelques crachats striés de sang avec sa bronchite",
    ],
)
def test_it_leaves_the_blind_c_traps_alone(matcher, text):
    result = matcher.match(text)
    assert result.red_flag is False, result.red_flag_criteria


def test_a_relative_is_still_the_patient_unless_the_caller_says_otherwise(matcher):
    # the self marker is what sets a family-cued mention aside, not the family cue alone
    assert (
        "fever_chemotherapy"
        in matcher.match("mon mari est sous chimio, fièvre 38,5").red_flag_criteria
    )
    assert "cardiac_arrest" in matcher.match("mon père ne respire plus").red_flag_criteria


def test_an_unprotected_intercourse_is_not_a_negation(matcher):
    assert (
        _codes(matcher.match("pilule du lendemain svp rapport non protégé hier soir"))[0] == "W10"
    )


@pytest.mark.parametrize(
    "path", [BLIND_2026_12_01, BLIND_2026_12_02, BLIND_2026_12_02B, BLIND_2026_12_02C]
)
def test_it_maps_the_blind_set_criteria_onto_the_referential(path):
    known = set(referential.criteria())
    names = {p.criterion for p in load_phrasings(path) if p.criterion}
    assert names - known == {"cardiac_arrest", "cauda_equina"} - known
    assert names <= known | {"cardiac_arrest", "cauda_equina"}


# --------------------------------------------------------------------------- contract


def test_it_keeps_the_interface_the_safety_helper_codes_against(matcher):
    result = matcher.match("douleur dans la poitrine qui serre depuis 1h", age_years=60, sex="M")
    assert result.red_flag is True
    assert result.red_flag_criteria[0] == "acs"
    assert result.red_flag_reasons[0] == referential.criterion("acs").label
    assert not set(result.red_flag_criteria) & set(result.candidate_criteria)
    calm = matcher.match("mal à la gorge depuis hier")
    assert calm.red_flag is False and calm.red_flag_criteria == [] and calm.red_flag_reasons == []


def test_red_flag_is_true_exactly_when_a_criterion_triggers(matcher):
    for text in ("toux grasse", "il ne respire plus", "fièvre 39", "envie d'en finir"):
        result = matcher.match(text)
        assert result.red_flag == bool(result.red_flag_criteria)
        assert len(result.red_flag_reasons) == len(result.red_flag_criteria)
        for cid in result.red_flag_criteria + result.candidate_criteria:
            assert referential.criterion(cid) is not None


def test_it_lists_the_most_severe_criterion_first(matcher):
    result = matcher.match("bébé de 2 mois avec 38,5 de fièvre et des taches violettes")
    priorities = [referential.criterion(c).priority for c in result.red_flag_criteria]
    assert priorities == sorted(priorities)
    assert {"purpura_fever", "fever_infant_3m"} <= set(result.red_flag_criteria)


@pytest.mark.parametrize("text", ["", "   ", "\x00", "🙂🙂", "<b></b>", "...", "\n\t"])
def test_it_returns_nothing_for_empty_input(matcher, text):
    assert matcher.match(text) == MatchResult(suggestions=[], red_flag=False, red_flag_reasons=[])


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_it_respects_the_limit(matcher, limit):
    assert len(matcher.match("fièvre, toux et mal à la gorge", limit=limit).suggestions) <= limit


def test_it_only_returns_codes_of_the_list_sorted_by_score(matcher):
    known = {m.code: m.label for m in load_motifs()}
    for text in ("fièvre et toux", "mal au ventre et diarrhée", "brûlures en urinant"):
        suggestions = matcher.match(text).suggestions
        assert suggestions
        assert all(known[s.code] == s.label and 0 <= s.score <= 1 for s in suggestions)
        scores = [s.score for s in suggestions]
        assert scores == sorted(scores, reverse=True)


# --------------------------------------------------------------------------- qualifiers


@pytest.mark.parametrize(
    "text, qualifier",
    [
        ("toux depuis 3 jours, pas de douleur thoracique", "negation"),
        ("ATCD d'infarctus en 2019, vient pour un renouvellement", "history"),
        ("son père est mort d'un AVC en 2010, elle a mal au genou", "family"),
        ("j'ai peur que ce soit un AVC, fourmis dans les doigts la nuit", "hypothesis"),
        ("douleur dans la poitrine seulement quand je tousse, bronchite", "explained"),
    ],
)
def test_it_sets_aside_qualified_mentions_and_says_why(matcher, text, qualifier):
    result = matcher.match(text)
    assert result.red_flag is False, result.red_flag_criteria
    assert qualifier in {q["qualifier"] for q in result.qualifiers}
    for item in result.qualifiers:
        assert set(item) == {"text", "criterion", "qualifier"}
        assert item["text"] and item["text"].lower() in text.lower()


def test_a_negation_does_not_hide_another_flag(matcher):
    result = matcher.match("pas de fièvre mais il n'arrive plus à respirer")
    assert "dyspnea_severe" in result.red_flag_criteria


def test_a_relative_who_is_the_patient_still_counts(matcher):
    # In a call the caller often speaks for the patient: "ma mère" is not family history.
    assert matcher.match("ma mère a une douleur dans la poitrine qui serre").red_flag


def test_a_resolved_tia_still_triggers(matcher):
    text = "ce matin il avait la bouche de travers pendant 10 minutes, c'est passé"
    assert "stroke" in matcher.match(text).red_flag_criteria


# --------------------------------------------------------------------------- facts


@pytest.mark.parametrize(
    "text, kwargs, expected",
    [
        ("bb 4 semaines fièvre 38,2", {}, "fever_infant_3m"),
        ("fièvre 38,5", {"age_years": 0}, None),  # under one year is not under 3 months
        ("mamie 88 ans tombée, n'arrive pas à se relever", {}, "elderly_fall"),
        ("par terre depuis cette nuit, ne peut pas se relever", {"age_years": 90}, "elderly_fall"),
        ("sat 86% et essoufflé", {}, "dyspnea_severe"),
        ("tension 22/12 avec mal de tête et vision floue", {}, "hypertensive_emergency"),
        ("épistaxis depuis 30 minutes, sous Eliquis", {}, "epistaxis_anticoagulant"),
        ("fièvre à 38,6 sous chimiothérapie", {}, "fever_chemotherapy"),
    ],
)
def test_it_reads_age_vital_signs_and_treatments(matcher, text, kwargs, expected):
    result = matcher.match(text, **kwargs)
    if expected is None:
        assert "fever_infant_3m" not in result.red_flag_criteria
    else:
        assert expected in result.red_flag_criteria, result


def test_a_plain_chest_pain_mention_is_a_candidate_or_a_flag_never_silent(matcher):
    result = matcher.match("douleur au thorax")
    assert "acs" in result.red_flag_criteria + result.candidate_criteria


# --------------------------------------------------------------------------- spelling


@pytest.mark.parametrize(
    "text, code",
    [
        ("diarée depuis 3 jours", "D11"),
        ("fiévre 39 depuis hier", "A03"),
        ("mal a la gorje", "R21"),
        ("tousse bcp depuis 1 semaine", "R05"),
    ],
)
def test_it_tolerates_typos_and_sms_spelling(matcher, text, code):
    assert code in _codes(matcher.match(text))[:3]


def test_it_is_deterministic(matcher):
    text = "bb 3 mois fiévre et ne boit plus"
    assert matcher.match(text) == matcher.match(text)


def test_it_shares_one_matcher():
    assert get_matcher() is get_matcher()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        "douleur thoracique " * 400,
        "😷🤒 j'ai de la fièvre 🥵",
        "<script>alert(1)</script> douleur dans la poitrine qui serre",
        "fièvre\x00 39",
        "I have chest pain qui serre depuis 1h, sudando mucho",
        "\ud800 surrogate",
    ],
)
def test_it_answers_any_text_without_raising(matcher, text):
    result = matcher.match(text)
    assert isinstance(result, MatchResult)


def test_html_and_emoji_do_not_change_the_answer(matcher):
    plain = matcher.match("douleur dans la poitrine qui serre")
    noisy = matcher.match("<p>douleur dans la poitrine 😰 qui serre</p>")
    assert noisy.red_flag_criteria == plain.red_flag_criteria
    assert _codes(noisy)[:1] == _codes(plain)[:1]


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_it_never_breaks_on_arbitrary_text(text):
    result = get_matcher().match(text)
    assert result.red_flag == bool(result.red_flag_criteria)


# --------------------------------------------------------------------------- second round rules
# Phrasings of the rules generalised on 2026-12-02 (second round), written for these tests,
# not taken from the regression sets.


@pytest.mark.parametrize(
    ("text", "criterion"),
    [
        # a "pas" elsewhere in the text is not a hypothesis cue ("pas sûr" once made it one)
        ("je suis pas sûr mais il a mal à la poitrine qui serre fort et il transpire", "acs"),
        ("elle voit double depuis une heure, ça a commencé d'un coup", "stroke"),
        (
            "coupure à la main, ça saigne encore malgré la compression depuis 15 minutes",
            "external_bleeding",
        ),
        (
            "mamie s'est cassé la figure, sa jambe est plus courte et elle peut pas appuyer",
            "elderly_fall",
        ),
        (
            "il arrive pas à reprendre son souffle, il est bleu autour de la bouche",
            "dyspnea_severe",
        ),
    ],
)
def test_second_round_concepts_trigger(matcher, text, criterion):
    assert criterion in matcher.match(text).red_flag_criteria


@pytest.mark.parametrize(
    "text",
    [
        "je suis KO avec ma grippe, besoin d'un arrêt",
        "il est épileptique, renouvellement de son traitement",
        "le nez qui coule vert depuis 5 jours, bébé 10 mois",
        "glaucome chronique, renouvellement de ses gouttes",
        "j'ai peur qu'elle ait une méningite, elle a juste un rhume",
        "selles noires depuis le début de son traitement par fer",
    ],
)
def test_second_round_traps_do_not_trigger(matcher, text):
    assert matcher.match(text).red_flag is False


def test_a_red_flag_names_the_first_motif(matcher):
    # the triggered criterion's motif (data/red_flags.yaml `motif:`) leads the suggestions
    result = matcher.match("pouls à 160 depuis ce matin et la tête qui tourne")
    assert result.red_flag_criteria[0] == "tachycardia_severe"
    assert _codes(result)[0] == "K04"
    assert "N17" in _codes(result)


def test_a_suspicion_alone_still_gets_its_motif(matcher):
    result = matcher.match("peur qu'il ait fait un AVC ?")
    assert result.red_flag is False and "stroke" in result.candidate_criteria
    assert _codes(result)[:1] == ["K90"]
