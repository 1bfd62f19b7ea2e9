"""create_api_client --sas limits a token to territories; list and revoke commands."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from relais.accounts.models import ApiClient
from relais.audit.models import AuditEvent
from tests import factories as f
from tests.interop.conftest import bearer

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_limits_a_new_token_to_the_given_departements_sas(client, sas91, sas43, cpts_a):
    out = run(
        "create_api_client", "--name", "logiciel-91", "--scopes", "requests:write", "--sas", "91"
    )
    token = out.strip().splitlines()[-1]
    api_client = ApiClient.objects.get(name="logiciel-91")
    assert list(api_client.sas_scope.all()) == [sas91]
    assert "territoire : 91" in out
    f.commune("43157")
    payload = {
        "patient": {
            "first_name": "A",
            "last_name": "B",
            "phone": "0639981234",
            "commune_insee": "43157",
        },
        "motif_text": "toux",
        "urgency": "12-24h",
    }
    refused = client.post(
        "/api/v1/requests", json.dumps(payload), content_type="application/json", **bearer(token)
    )
    assert refused.status_code in (403, 404), refused.content  # Haute-Loire: outside its SAS
    assert AuditEvent.objects.filter(action="create", object_id=str(api_client.public_id)).exists()


def test_it_takes_several_departements_and_refuses_an_unknown_one(sas91, sas43):
    run("create_api_client", "--name", "deux", "--scopes", "slots:read", "--sas", "91, 43")
    assert {s.departement.code for s in ApiClient.objects.get(name="deux").sas_scope.all()} == {
        "91",
        "43",
    }
    with pytest.raises(CommandError, match="aucun SAS pour le\\(s\\) département\\(s\\) 75"):
        run("create_api_client", "--name", "paris", "--scopes", "slots:read", "--sas", "75")
    assert not ApiClient.objects.filter(name="paris").exists()


def test_it_lists_and_revokes_clients(client, sas91):
    token = run("create_api_client", "--name", "a-revoquer", "--scopes", "slots:read").split()[-1]
    listed = run("list_api_clients")
    assert "a-revoquer" in listed and "SAS tous" in listed and "actif" in listed
    assert token not in listed  # the token is never shown again, only its prefix
    assert "révoqué" in run("revoke_api_client", "--name", "a-revoquer")
    assert "a-revoquer" not in run("list_api_clients")
    assert "révoqué le" in run("list_api_clients", "--all")
    assert client.get("/api/v1/communes?q=evry", **bearer(token)).status_code == 401
    with pytest.raises(CommandError, match="déjà révoqué"):
        run("revoke_api_client", "--name", "a-revoquer")
    with pytest.raises(CommandError, match="Aucun client API"):
        run("revoke_api_client", "--name", "inconnu")
