"""schemathesis drives every /api/v1 operation from the OpenAPI schema, with a token
holding every scope on a small territory: no generated input may produce a 5xx."""

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from relais.accounts.services import API_SCOPES
from relais.wsgi import application
from tests import factories as f

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def token(db, cpts_a):
    from io import StringIO

    f.SlotFactory()
    f.RequestFactory()
    out = StringIO()
    call_command(
        "create_api_client", name="fuzzer", scopes=",".join(sorted(API_SCOPES)), stdout=out
    )
    return out.getvalue().strip().splitlines()[-1]


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_it_never_answers_a_server_error(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
    )
