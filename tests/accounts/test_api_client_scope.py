import pytest

from relais.accounts.permissions import scope_for_api_client
from relais.accounts.services import api_client_create

pytestmark = pytest.mark.django_db


def test_a_limited_client_sees_its_sas_only_and_an_unlimited_one_every_sas(
    sas91, sas43, django_assert_num_queries
):
    limited, _ = api_client_create(name="éditeur 43", scopes=["slots:read"])
    limited.sas_scope.add(sas43)
    unlimited, _ = api_client_create(name="plateforme", scopes=["slots:read"])
    with django_assert_num_queries(1):  # on every API call: one query
        scope = scope_for_api_client(limited)
    assert scope.sas_ids == {sas43.pk}
    assert scope.departement_codes == {"43"}
    assert scope.roles == {"scope:slots:read"}
    with django_assert_num_queries(1):
        scope = scope_for_api_client(unlimited)
    assert scope.sas_ids == {sas91.pk, sas43.pk}
    assert scope.departement_codes == {"91", "43"}
