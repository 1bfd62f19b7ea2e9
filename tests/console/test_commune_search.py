"""Issue 18, item 3: the commune search for the operator's territory first. Before, the
autocomplete was national ("Saint-Ger" proposed Saint-Germain-en-Laye, 78, first to an
Essonne operator) and "Massy" typed in full was refused as ambiguous."""

import pytest
from django.urls import reverse

from relais.accounts.permissions import scope_for
from relais.regulation.forms import RequestForm
from relais.territory.models import Commune
from relais.territory.selectors import (
    communes_search_territory_first,
    departement_codes_for_scope,
)
from relais.territory.services import communes_load

pytestmark = pytest.mark.django_db


@pytest.fixture
def france(sas91, sas43):
    # The Essonne, its neighbours, Haute-Loire, and the other départements with a Massy.
    communes_load(departements={"91", "78", "92", "94", "77", "45", "28", "43", "71", "76"})


def _options(client, query):
    html = client.get(reverse("territory:communes"), {"commune": query}).content.decode()
    lines = [line for line in html.splitlines() if "value=" in line]
    return [line.split('value="')[1].split('"')[0] for line in lines]


def test_saint_ger_proposes_the_essonne_first_to_an_essonne_operator(client, olivia, france):
    client.force_login(olivia)
    options = _options(client, "Saint-Ger")
    assert options, "nothing proposed"
    insee = [o.rsplit("— ", 1)[1] for o in options]
    in_91 = [code.startswith("91") for code in insee]
    # Every Essonne Saint-Germain before any other, Saint-Germain-en-Laye (78) not first.
    assert in_91[0] and in_91 == sorted(in_91, reverse=True)
    assert insee[0] != "78551"


def test_the_others_come_nearest_first(olivia, france):
    found = communes_search_territory_first(query="Saint-Ger", departement_codes=["91"], limit=30)
    outside = [c.departement.code for c in found if c.departement.code != "91"]
    # The neighbours (78, 77, 45, 28, 92, 94) before Haute-Loire, Saône-et-Loire…
    far = {"43", "71", "76"}
    firsts = [code for code in outside if code not in far]
    assert outside[: len(firsts)] == firsts


def test_oscar_gets_the_haute_loire_first(client, oscar, france):
    client.force_login(oscar)
    insee = [o.rsplit("— ", 1)[1] for o in _options(client, "Saint-Ger")]
    assert insee[0].startswith("43")


def test_the_scope_gives_its_departements(olivia, oscar, dr_alice):
    assert departement_codes_for_scope(scope_for(olivia)) == ["91"]
    assert departement_codes_for_scope(scope_for(oscar)) == ["43"]
    assert departement_codes_for_scope(scope_for(dr_alice.user)) == ["91"]  # via its CPTS


def _commune_field(value, territory):
    form = RequestForm(
        {
            "last_name": "Durand",
            "first_name": "Lucie",
            "phone": "0639981234",
            "commune": value,
            "urgency": "12-24h",
            "channel": "phone",
            "motif_text": "fièvre",
        },
        territory=territory,
    )
    form.is_valid()
    return form.cleaned_data.get("commune"), form.errors.get("commune")


def test_massy_typed_in_full_is_the_essonnes_massy(france):
    assert Commune.objects.filter(search_name="massy").count() >= 2  # 91, 76
    commune, errors = _commune_field("Massy", ["91"])
    assert errors is None and commune.insee == "91377"
    # Without a territory (or outside it), still ambiguous: a French error.
    commune, errors = _commune_field("Massy", [])
    assert commune is None and "Plusieurs communes" in errors[0]


def test_a_postal_code_unique_in_the_territory_is_accepted(france):
    commune, errors = _commune_field("91300", ["91"])  # Massy
    assert errors is None and commune.insee == "91377"
    commune, errors = _commune_field("91150", ["91"])  # Étampes and 14 villages: several
    assert commune is None and "Plusieurs communes de votre territoire" in errors[0]
    commune, errors = _commune_field("99999", ["91"])
    assert commune is None and "Commune inconnue" in errors[0]
