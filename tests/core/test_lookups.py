import pytest
from django.db import connection

from relais.directory.models import Practice
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_any_of_matches_the_listed_ids_only():
    a, b, c = (f.ProfessionalFactory().practices.first() for _ in range(3))
    assert set(Practice.objects.filter(id__any_of=[a.pk, c.pk])) == {a, c}
    assert set(Practice.objects.filter(id__any_of=[])) == set()
    assert set(Practice.objects.exclude(id__any_of=[b.pk]).filter(pk__in=[a.pk, b.pk])) == {a}


def test_any_of_sends_one_typed_array_on_postgresql():
    sql, params = Practice.objects.filter(id__any_of=[1, 2, 3]).query.sql_with_params()
    if connection.vendor == "postgresql":
        # One parameter, cast to the column's type so PostgreSQL can hash the lookup.
        assert "= ANY(%s::bigint[])" in sql
        assert params == ([1, 2, 3],)
    else:
        assert "IN (%s, %s, %s)" in sql
        assert params == (1, 2, 3)
