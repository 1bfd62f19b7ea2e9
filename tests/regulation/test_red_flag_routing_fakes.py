"""A deterministic matcher for the red-flag routing tests (issue 15): the routing rule is
tested on its own, whatever the real matcher detects. Criteria and questions are the real
referential's (relais/regulation/data/red_flags.yaml)."""

from types import SimpleNamespace

import pytest

# (words that must all appear, criterion id, triggers on its own?)
RULES = [
    (("poitrine", "serre"), "acs", True),
    (("respirer",), "dyspnea_severe", True),
    (("essouffl",), "dyspnea_severe", True),
    (("tonnerre",), "thunderclap_headache", True),
    (("saigne du nez", "eliquis"), "epistaxis_anticoagulant", True),
    (("poitrine",), "acs", False),
    (("nuque",), "meningeal", False),
    (("produit",), "intoxication", False),
]


class FakeMatcher:
    calls = 0

    def match(self, text, *, age_years=None, sex=None, limit=5):
        from relais.regulation.referential import criteria

        FakeMatcher.calls += 1
        known, lowered = criteria(), text.lower()
        red, candidates = [], []
        for words, cid, triggers in RULES:
            if all(w in lowered for w in words):
                (red if triggers else candidates).append(cid)
        red = sorted(dict.fromkeys(red), key=lambda c: known[c].priority)
        candidates = [c for c in dict.fromkeys(candidates) if c not in red]
        return SimpleNamespace(
            suggestions=[],
            red_flag=bool(red),
            red_flag_reasons=[known[c].label for c in red],
            red_flag_criteria=red,
            candidate_criteria=candidates,
            qualifiers=[],
        )


@pytest.fixture
def fake_matcher(monkeypatch):
    from relais.regulation import matching

    matcher = FakeMatcher()
    monkeypatch.setattr(matching, "get_matcher", lambda: matcher)
    return matcher
