"""The red-flag referential (data/red_flags.yaml) loads, is complete and is checked."""

import pytest

from relais.regulation import referential
from relais.regulation.referential import ReferentialError

# The criteria issue 15 lists, under the ids a fresh blind set uses.
ISSUE_15_CRITERIA = [
    "acs",
    "aortic_dissection",
    "pulmonary_embolism",
    "dyspnea_severe",
    "asthma_severe",
    "bronchiolitis_severe",
    "stroke",
    "syncope_severe",
    "tachycardia_severe",
    "gi_bleeding",
    "rectal_bleeding_massive",
    "external_bleeding",
    "epistaxis_anticoagulant",
    "haemoptysis",
    "suicidal",
    "intoxication",
    "anaphylaxis",
    "purpura_fever",
    "meningeal",
    "thunderclap_headache",
    "rigid_abdomen",
    "fever_infant_3m",
    "elderly_fall",
    "seizure",
    "burns_severe",
    "pregnancy_emergency",
    "ectopic_pregnancy",
    "testicular_torsion",
    "head_injury",
    "obstructive_pyelonephritis",
    "sepsis",
    "confusion_acute",
    "hypertensive_emergency",
    "dehydration_infant",
    "eye_emergency",
    "chemical_eye",
    "bite_child_face",
    "limb_ischemia",
    "bilious_vomiting_newborn",
    "fever_chemotherapy",
]


def test_it_covers_every_criterion_of_the_issue_with_label_source_and_questions():
    loaded = referential.criteria()
    missing = [cid for cid in ISSUE_15_CRITERIA if cid not in loaded]
    assert missing == []
    question_ids = set()
    for crit in loaded.values():
        assert crit.priority in ("P0", "P1")
        assert crit.label and crit.source and crit.triggers
        assert 1 <= len(crit.questions) <= 3
        for question in crit.questions:
            assert question.id.startswith(crit.id + ".")
            assert question.text.endswith("?")
            assert question.id not in question_ids
            question_ids.add(question.id)
    assert referential.criterion("acs").priority == "P0"
    assert "thoracique" in referential.criterion("acs").label
    assert referential.criterion("nope") is None


def test_every_concept_a_criterion_names_exists_in_the_lexicon():
    ref = referential.referential()
    for crit in ref.criteria.values():
        for names in (crit.core, crit.explained, *crit.triggers):
            for name in names:
                assert name in ref.concepts or name in referential.FACTS, (crit.id, name)


@pytest.mark.parametrize(
    "body, message",
    [
        ("criteria: [{id: x, label: L, priority: P9, source: S}]", "priority"),
        (
            "concepts: {a: [b]}\ncriteria: [{id: x, label: L, priority: P0, source: S,"
            " triggers: [[nope]], questions: [{id: x.a, text: 'Q ?'}]}]",
            "unknown concept",
        ),
        (
            "concepts: {a: [b]}\ncriteria: [{id: x, label: L, priority: P0, source: S,"
            " triggers: [[a]], questions: []}]",
            "questions",
        ),
    ],
)
def test_a_malformed_file_is_refused_at_load_time(tmp_path, body, message):
    path = tmp_path / "flags.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ReferentialError, match=message):
        referential.load(path)


def test_every_red_flag_motif_is_a_code_of_the_motif_list():
    from relais.regulation.matching import load_motifs

    codes = {m.code for m in load_motifs()}
    motifs = {c.id: c.motif for c in referential.criteria().values() if c.motif}
    assert len(motifs) >= 15
    assert {cid: code for cid, code in motifs.items() if code not in codes} == {}
