"""The ranked search reads each level by keyset pages and stops early (selectors
`_level_entries`). Property: whatever the agenda (ties on start time,
plages, several slots per professional, slots beyond the radius, a médecin traitant or
not) and however small the pages, it returns exactly what ranking every slot by the
written rule returns."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relais.agenda.models import Slot
from relais.directory.models import Professional
from relais.orientation import selectors
from relais.orientation.selectors import (
    LEVEL_OTHER,
    LEVEL_PARTICIPANT,
    LEVEL_TRAITANT,
    MAX_SLOTS_PER_PROFESSIONAL,
    _tie_break,
    slots_ranked_for,
)
from relais.territory.geo import distance_km
from tests import factories as f

pytestmark = pytest.mark.django_db

# Patient in 91228; practices at 0 km, ~8 km, ~10 km and ~28 km (beyond the radius).
COMMUNES = ["91228", "91549", "91174", "91223"]

professional_strategy = st.fixed_dictionaries(
    {
        "participant": st.booleans(),
        "commune": st.sampled_from(COMMUNES),
        # (hour offset, plage places: 0 = a plain slot); few distinct hours, many ties
        "slots": st.lists(st.tuples(st.integers(1, 6), st.integers(0, 3)), min_size=0, max_size=6),
    }
)


def _reference(request, now, limit, radius):
    """The rule, over every slot: levels, then per level each professional's earliest
    MAX_SLOTS_PER_PROFESSIONAL entries (a plage's places make one entry) within the radius
    (the médecin traitant at any distance), ordered by start, distance, tie-break."""
    patient = request.patient
    commune = patient.commune
    by_level = {LEVEL_TRAITANT: {}, LEVEL_PARTICIPANT: {}, LEVEL_OTHER: {}}
    per_professional = {}
    slots = Slot.objects.filter(start__gt=now).select_related("professional", "practice")
    for slot in slots.order_by("start", "pk"):
        pro = slot.professional
        dist = distance_km(
            commune.latitude, commune.longitude, slot.practice.latitude, slot.practice.longitude
        )
        if pro.pk == patient.medecin_traitant_id:
            level = LEVEL_TRAITANT
        elif dist > radius:
            continue
        else:
            level = LEVEL_PARTICIPANT if pro.sas_participant else LEVEL_OTHER
        entries = by_level[level]
        key = (pro.pk, slot.start, slot.end) if slot.is_plage else slot.pk
        if key in entries:
            entries[key][3] += 1
            continue
        if per_professional.get(pro.pk, 0) >= MAX_SLOTS_PER_PROFESSIONAL:
            continue
        per_professional[pro.pk] = per_professional.get(pro.pk, 0) + 1
        entries[key] = [slot.start, round(dist, 1), _tie_break(request, pro.public_id), 1, slot]
    ranked = []
    for level in (LEVEL_TRAITANT, LEVEL_PARTICIPANT, LEVEL_OTHER):
        ranked += [(level, e) for e in sorted(by_level[level].values(), key=lambda e: e[:3])]
    return [(level, e[4].pk, e[3]) for level, e in ranked[:limit]]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    professionals=st.lists(professional_strategy, min_size=1, max_size=6),
    traitant_index=st.one_of(st.none(), st.integers(0, 5)),
    limit=st.integers(1, 6),
    page=st.integers(1, 4),
    sparse=st.booleans(),
)
def test_paged_search_equals_ranking_every_slot(
    cpts_a, monkeypatch, professionals, traitant_index, limit, page, sparse
):
    Slot.objects.all().delete()
    Professional.objects.all().delete()
    monkeypatch.setattr(selectors, "SEARCH_MIN_PAGE", page)
    # Both ways of reading the box: practice by practice, or by time on the slots' own
    # coordinates.
    monkeypatch.setattr(selectors, "SEARCH_FEW_PRACTICES", 400 if sparse else 0)
    now = timezone.now()
    base = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    created = []
    for spec in professionals:
        pro = f.ProfessionalFactory(
            sas_participant=spec["participant"], practice_in=spec["commune"]
        )
        created.append(pro)
        hours_taken = set()
        for hour, places in spec["slots"]:
            if hour in hours_taken:  # one slot or one plage per professional and start
                continue
            hours_taken.add(hour)
            start = base + timedelta(hours=hour)
            if places == 0:
                f.SlotFactory(professional=pro, start=start)
            else:
                for place in range(1, places + 1):
                    f.SlotFactory(professional=pro, start=start, is_plage=True, place=place)
    traitant = None
    if traitant_index is not None and traitant_index < len(created):
        traitant = created[traitant_index]
    req = f.RequestFactory(patient=f.PatientFactory(medecin_traitant=traitant))
    radius = req.patient.commune.departement.default_radius_km

    got = [
        (r.level, r.slot.pk, r.places_left)
        for r in slots_ranked_for(request=req, now=now, limit=limit)
    ]
    assert got == _reference(req, now, limit, radius)
