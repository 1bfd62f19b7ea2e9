import pytest
from django.core.management import call_command

from relais.accounts.models import User
from relais.agenda.models import Slot
from relais.directory.models import Professional
from relais.regulation.models import Request
from relais.territory.models import Commune, Cpts


@pytest.mark.django_db
def test_it_builds_a_realistic_demo_territory_idempotently():
    call_command("demo_data", days=3)
    counts = (
        Commune.objects.count(),
        Professional.objects.count(),
        Slot.objects.count(),
        Request.objects.count(),
        User.objects.count(),
    )
    assert counts[0] == 35014
    assert 140 <= counts[1] <= 160
    assert set(Cpts.objects.values_list("name", flat=True)) >= {
        "CPTS Nord Velay Forez",
        "CPTS Cœur Essonne",
    }
    assert all(p.rpps.startswith("999") for p in Professional.objects.all())
    assert Request.objects.filter(status="open").exists()
    assert set(User.objects.values_list("username", flat=True)) == {
        "operateur",
        "arm",
        "regulateur",
        "medecin",
        "coordinateur",
        "admin",
        "pharmacien",
        "infirmier",
        "kine",
    }
    # The referrers (issue 17): the adresseur role only, each linked to their own record.
    for username, profession in (
        ("pharmacien", "pharmacien"),
        ("infirmier", "infirmier"),
        ("kine", "kine"),
    ):
        user = User.objects.get(username=username)
        assert set(user.memberships.values_list("role", flat=True)) == {"adresseur"}
        assert user.professional.profession == profession
    # Every practice is in a real commune of the demo départements.
    assert not Professional.objects.exclude(
        practices__commune__departement__code__in=["43", "91"]
    ).exists()
    call_command("demo_data", days=3)
    again = (
        Commune.objects.count(),
        Professional.objects.count(),
        Slot.objects.count(),
        Request.objects.count(),
        User.objects.count(),
    )
    assert again == counts
