import pytest
from django.urls import reverse

from relais.territory.geo import bounding_box, distance_km, search_key
from relais.territory.models import Commune, Departement
from relais.territory.selectors import communes_search
from relais.territory.services import communes_load


def test_it_computes_real_distances():
    # Le Puy-en-Velay -> Évry-Courcouronnes, about 430 km as the crow flies.
    d = distance_km(45.028267, 3.897318, 48.628697, 2.431328)
    assert 415 < d < 425
    assert distance_km(48.6, 2.4, 48.6, 2.4) == 0


def test_it_bounds_a_circle_in_a_box():
    lat, lon = 48.628697, 2.431328
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, 10)
    assert distance_km(lat, lon, max_lat, lon) == pytest.approx(10, rel=0.01)
    assert distance_km(lat, lon, lat, max_lon) == pytest.approx(10, rel=0.01)
    assert min_lat < lat < max_lat and min_lon < lon < max_lon


@pytest.mark.parametrize(
    "text, key",
    [
        ("Évry-Courcouronnes", "evry courcouronnes"),
        ("L'Haÿ-les-Roses", "l hay les roses"),
        ("St-Étienne", "saint etienne"),
        ("Ste Geneviève des Bois", "sainte genevieve des bois"),
    ],
)
def test_it_builds_accent_free_search_keys(text, key):
    assert search_key(text) == key


@pytest.mark.django_db
def test_it_loads_the_real_communes_file_idempotently():
    assert communes_load(departements={"43"}) == Commune.objects.count()
    count = Commune.objects.count()
    assert 250 < count < 270  # Haute-Loire has 257 communes
    assert communes_load(departements={"43"}) == count
    assert Commune.objects.count() == count
    puy = Commune.objects.get(insee="43157")
    assert puy.name == "Le Puy-en-Velay"
    assert puy.latitude == pytest.approx(45.028, abs=0.001)
    assert Departement.objects.get(code="43").name == "Haute-Loire"


@pytest.mark.django_db
def test_it_autocompletes_communes_by_name_or_postal_code(olivia):
    communes_load(departements={"91"})
    names = [c.name for c in communes_search(query="evry")]
    assert names[0] == "Évry-Courcouronnes"
    assert "Saint-Germain-lès-Arpajon" in [
        c.name for c in communes_search(query="st germain", limit=20)
    ]
    by_postcode = communes_search(query="91150")
    assert by_postcode[0].name == "Étampes"  # the most populated first
    assert all("91150" in c.postal_codes for c in by_postcode)
    assert communes_search(query="e") == []


@pytest.mark.django_db
def test_it_serves_the_commune_options_to_logged_in_users_only(client, olivia):
    communes_load(departements={"43"})
    url = reverse("territory:communes") + "?commune=monistrol"
    assert client.get(url).status_code == 302
    client.force_login(olivia)
    assert "Monistrol-sur-Loire (43120) — 43137" in client.get(url).content.decode()
