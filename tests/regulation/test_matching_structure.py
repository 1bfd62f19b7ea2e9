"""Structure of the matcher added in session 2 of 2026-12-02 (issue 15): composite concepts
(a body part and a finding in one clause), the clause-level resolution / treated-episode
qualifier, and the motif a triggered red flag leads with. Sentences written for these
rules, none taken from the phrasing sets."""

import pytest

from relais.regulation import referential
from relais.regulation.matching import get_matcher


@pytest.fixture(scope="module")
def matcher():
    return get_matcher()


@pytest.mark.parametrize(
    ("text", "criterion"),
    [
        ("sa bouche est partie de travers d'un coup", "stroke"),
        ("il a la moitié du visage qui ne bouge plus", "stroke"),
        ("pain in my chest going to my left arm", "acs"),
        ("il est tout gris, il respire mal", "dyspnea_severe"),
        ("chute de vélo, PC de quelques secondes", "head_injury"),
        ("stenté il y a 2 ans, la trinitrine ne fait rien", "acs"),
    ],
)
def test_a_composite_concept_is_found_across_the_words_of_a_clause(matcher, text, criterion):
    assert criterion in matcher.match(text).red_flag_criteria


def test_a_composite_slot_in_another_clause_or_negated_does_not_count(matcher):
    assert "stroke" not in matcher.match("pas de bouche de travers").red_flag_criteria
    finger = matcher.match("doigt coincé dans la porte tout bleu")
    assert "dyspnea_severe" not in finger.red_flag_criteria


@pytest.mark.parametrize(
    "text",
    [
        "douleur thoracique il y a 10 jours, vu par le cardio, tout était normal",
        "malaise la semaine dernière, bilan normal, veut un certificat",
        "avait des idées noires cet hiver, beaucoup mieux avec le traitement, renouvellement",
        "convulsion hier, vue aux urgences, va bien ce matin, demande un rdv",
    ],
)
def test_a_past_episode_told_with_its_outcome_is_resolved(matcher, text):
    result = matcher.match(text)
    assert not result.red_flag, result.red_flag_criteria


def test_the_resolution_stops_where_the_caller_comes_back_to_the_present(matcher):
    text = "opérée du genou il y a 10 jours, va bien depuis, maintenant essoufflée au repos"
    assert matcher.match(text).red_flag
    text = (
        "douleur thoracique la semaine dernière, bilan normal, "
        "maintenant mal à la poitrine qui serre"
    )
    assert "acs" in matcher.match(text).red_flag_criteria


def test_today_s_resolved_tia_and_syncope_still_count(matcher):
    tia = matcher.match("il a fait un AIT ce matin, tout est rentré dans l'ordre")
    assert "stroke" in tia.red_flag_criteria
    assert tia.suggestions[0].code == "K89"
    syncope = matcher.match(
        "malaise avec perte de connaissance tout à l'heure, il va bien maintenant"
    )
    assert "syncope_severe" in syncope.red_flag_criteria


def test_negation_stays_in_its_clause(matcher):
    assert "acs" in matcher.match("pas de fièvre mais douleur thoracique").red_flag_criteria


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("douleur thoracique depuis 1h", "A11"),
        ("ça me serre dans la poitrine et ça descend dans le bras", "K01"),
        ("idées suicidaires depuis quelques jours", "P03"),
        ("elle dit qu'elle va se jeter par la fenêtre, elle a écrit une lettre", "P77"),
        ("mon mari convulse depuis 5 minutes, il a perdu connaissance", "N07"),
        ("fièvre et nuque raide", "A03"),
        ("fièvre 40, mal de tête horrible et nuque raide", "N01"),
    ],
)
def test_a_red_flag_leads_with_the_motif_of_its_most_specific_criterion(matcher, text, code):
    result = matcher.match(text)
    assert result.red_flag
    assert result.suggestions[0].code == code, [s.code for s in result.suggestions]


def test_the_referential_checks_lead_and_motif_if(tmp_path):
    base = referential.RED_FLAGS_YAML.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        base.replace("    lead: generic\n", "    lead: sometimes\n", 1), encoding="utf-8"
    )
    with pytest.raises(referential.ReferentialError):
        referential.load(bad)
    bad.write_text(
        base.replace("{motif: K01, any: [constrictive,", "{motif: K01, any: [no_such_concept,", 1),
        encoding="utf-8",
    )
    with pytest.raises(referential.ReferentialError):
        referential.load(bad)
    crit = referential.load().criteria
    assert crit["syncope_severe"].lead == "generic"
    assert crit["stroke"].motif_resolved == "K89"
    assert "suicide_plan_strong" in dict((m, n) for m, n in crit["suicidal"].motif_if)["P77"]
    assert referential.load().composites["facial_droop"]
