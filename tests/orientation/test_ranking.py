from datetime import timedelta

import pytest
from django.utils import timezone

from relais.orientation.selectors import (
    LEVEL_OTHER,
    LEVEL_PARTICIPANT,
    LEVEL_TRAITANT,
    slots_ranked_for,
)
from tests import factories as f

pytestmark = pytest.mark.django_db


def in_hours(h):
    return timezone.now() + timedelta(hours=h)


def test_it_puts_the_medecin_traitant_first_then_participants_then_others(cpts_a):
    traitant = f.ProfessionalFactory(sas_participant=False, practice_in="91549")
    participant = f.ProfessionalFactory(sas_participant=True, practice_in="91174")
    other = f.ProfessionalFactory(sas_participant=False, practice_in="91228")
    f.SlotFactory(professional=other, start=in_hours(1))
    f.SlotFactory(professional=participant, start=in_hours(2))
    f.SlotFactory(professional=traitant, start=in_hours(6))
    req = f.RequestFactory(patient=f.PatientFactory(medecin_traitant=traitant))
    ranked = slots_ranked_for(request=req)
    assert [(r.slot.professional, r.level) for r in ranked] == [
        (traitant, LEVEL_TRAITANT),
        (participant, LEVEL_PARTICIPANT),
        (other, LEVEL_OTHER),
    ]


def test_it_orders_by_earliest_then_nearest_within_a_level(cpts_a):
    near = f.ProfessionalFactory(practice_in="91228")  # same commune as the patient
    far = f.ProfessionalFactory(practice_in="91549")  # about 8 km
    late_near = f.SlotFactory(professional=near, start=in_hours(4))
    early_far = f.SlotFactory(professional=far, start=in_hours(2))
    same_time = in_hours(3)
    s_far = f.SlotFactory(professional=far, start=same_time)
    s_near = f.SlotFactory(professional=near, start=same_time)
    ranked = [r.slot for r in slots_ranked_for(request=f.RequestFactory())]
    assert ranked == [early_far, s_near, s_far, late_near]
    assert slots_ranked_for(request=f.RequestFactory())[1].distance_km == pytest.approx(0, abs=0.1)


def test_it_leaves_out_far_booked_past_and_level2_only_slots(cpts_a):
    f.SlotFactory(professional=f.ProfessionalFactory(practice_in="91223"))  # Étampes, ~28 km
    f.SlotFactory(status="booked")
    f.SlotFactory(start=timezone.now() - timedelta(hours=1))
    f.SlotFactory(start=timezone.now() + timedelta(minutes=5))  # too soon to get there
    f.SlotFactory(professional=f.ProfessionalFactory(level2_only=True))
    f.SlotFactory(start=in_hours(30))  # beyond the 12–24 h band
    kept = f.SlotFactory()
    ranked = slots_ranked_for(request=f.RequestFactory())
    assert [r.slot for r in ranked] == [kept]


def test_it_widens_radius_and_horizon_on_demand(cpts_a):
    far = f.SlotFactory(professional=f.ProfessionalFactory(practice_in="91377"))  # Massy, ~16 km
    later = f.SlotFactory(start=in_hours(40))
    req = f.RequestFactory()
    assert slots_ranked_for(request=req) == []
    assert {r.slot for r in slots_ranked_for(request=req, widen=True)} == {far, later}


def test_it_filters_by_modality(cpts_a):
    tele = f.SlotFactory(modality="teleconsultation")
    f.SlotFactory(modality="cabinet")
    ranked = slots_ranked_for(request=f.RequestFactory(), modality="teleconsultation")
    assert [r.slot for r in ranked] == [tele]


def test_it_caps_slots_per_professional_and_breaks_ties_neutrally(cpts_a):
    busy = f.ProfessionalFactory()
    for h in range(1, 6):
        f.SlotFactory(professional=busy, start=in_hours(h))
    ranked = slots_ranked_for(request=f.RequestFactory())
    assert len(ranked) == 3
    # Same start, same place: the order depends on the request, not on insertion order.
    start = in_hours(2)
    pros = [f.ProfessionalFactory() for _ in range(6)]
    for pro in pros:
        f.SlotFactory(professional=pro, start=start)
    orders = {
        tuple(
            r.slot.professional_id
            for r in slots_ranked_for(request=f.RequestFactory())
            if r.slot.start == start
        )
        for _ in range(8)
    }
    assert len(orders) > 1


def test_it_offers_a_slot_only_on_the_channels_its_professional_allowed(cpts_a):
    hidden = f.SlotFactory(for_sas=False, for_cpts=True)
    shown = f.SlotFactory()
    req = f.RequestFactory()
    assert [r.slot for r in slots_ranked_for(request=req)] == [shown]
    assert {r.slot for r in slots_ranked_for(request=req, channel="cpts")} == {hidden, shown}
    assert slots_ranked_for(request=req, channel="public") == []


def test_it_offers_only_slots_whose_rule_accepts_the_motif_and_the_patients_age(cpts_a):
    from datetime import date, time

    from relais.agenda.models import AvailabilityRule
    from relais.regulation.models import Motif

    pro = f.ProfessionalFactory()
    kids_ear = AvailabilityRule.objects.create(
        professional=pro,
        practice=pro.practices.first(),
        weekdays=[0],
        start_time=time(17),
        end_time=time(19),
        slot_minutes=20,
        age_max=15,
    )
    kids_ear.motifs.set([Motif.objects.get(code="H01")])
    for_kids_ears = f.SlotFactory(professional=pro, rule=kids_ear, age_max=15)
    anyone = f.SlotFactory(start=in_hours(4))
    adult_cough = f.RequestFactory(
        patient=f.PatientFactory(birth_date=date(1980, 1, 1)), motif=Motif.objects.get(code="R05")
    )
    assert [r.slot for r in slots_ranked_for(request=adult_cough)] == [anyone]
    child_ear = f.RequestFactory(
        patient=f.PatientFactory(birth_date=timezone.localdate().replace(year=2020)),
        motif=Motif.objects.get(code="H01"),
    )
    assert [r.slot for r in slots_ranked_for(request=child_ear)] == [for_kids_ears, anyone]
    child_cough = f.RequestFactory(patient=child_ear.patient, motif=Motif.objects.get(code="R05"))
    assert [r.slot for r in slots_ranked_for(request=child_cough)] == [anyone]
