"""OpenID Connect login against a local fake provider (an http.server thread on
127.0.0.1). The fake signs its id_token with HS256 and the client secret; the RS256/JWKS
path is exercised with a key pair generated in the test."""

import html
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from django.urls import reverse

from relais.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
SECRET = "secret-du-client-de-test-suffisamment-long"


class FakeProvider:
    def __init__(self):
        self.claims = {}
        self.userinfo = {}
        self.sign = lambda claims: jwt.encode(claims, SECRET, algorithm="HS256")
        self.jwks = {"keys": []}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, payload, status=200):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # token endpoint
                length = int(self.headers["Content-Length"])
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if form.get("code") != "bon-code" or form.get("client_secret") != SECRET:
                    return self._json({"error": "invalid_grant"}, 400)
                self._json({"id_token": provider.sign(provider.claims), "access_token": "at"})

            def do_GET(self):
                if self.path.startswith("/jwks"):
                    return self._json(provider.jwks)
                if self.headers.get("Authorization") != "Bearer at":
                    return self._json({}, 401)
                self._json(provider.userinfo)

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def provider(settings):
    fake = FakeProvider()
    settings.RELAIS_OIDC = {
        "issuer": fake.url,
        "client_id": "relais",
        "client_secret": SECRET,
        "authorization_endpoint": f"{fake.url}/authorize",
        "token_endpoint": f"{fake.url}/token",
        "userinfo_endpoint": f"{fake.url}/userinfo",
        "jwks_uri": f"{fake.url}/jwks",
        "scopes": "openid scope_all",
        "rpps_claim": "preferred_username",
        "extra_auth_params": "acr_values=eidas1",
    }
    yield fake
    fake.close()


def start(client):
    response = client.get(reverse("accounts:oidc_start"))
    assert response.status_code == 302
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response["Location"]).query))
    assert query["acr_values"] == "eidas1" and query["response_type"] == "code"
    return query


def tokens_for(provider, query, rpps, **extra):
    now = int(time.time())
    provider.claims = {
        "iss": provider.url, "aud": "relais", "sub": "psc-42", "nonce": query["nonce"],
        "iat": now, "exp": now + 300, "acr": "eidas1", **extra,
    }  # fmt: skip
    provider.userinfo = {"sub": "psc-42", "preferred_username": f"8{rpps}"}


def test_it_logs_a_professional_in_with_pro_sante_connect(client, provider, dr_alice):
    query = start(client)
    tokens_for(provider, query, dr_alice.rpps)
    response = client.get(
        reverse("accounts:oidc_callback"), {"code": "bon-code", "state": query["state"]}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 302  # logged in: lands on the role's page
    assert int(client.session["_auth_user_id"]) == dr_alice.user.pk
    assert AuditEvent.objects.filter(user=dr_alice.user, reason="OpenID Connect").exists()


def test_it_verifies_rs256_tokens_through_the_jwks(client, provider, dr_alice):
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    provider.jwks = {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}
    provider.sign = lambda claims: jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    query = start(client)
    tokens_for(provider, query, dr_alice.rpps)
    client.get(reverse("accounts:oidc_callback"), {"code": "bon-code", "state": query["state"]})
    assert int(client.session["_auth_user_id"]) == dr_alice.user.pk


@pytest.mark.parametrize(
    "tamper, message",
    [
        ({"state": "autre"}, "Session de connexion expirée"),
        ({"code": "mauvais-code"}, "a refusé la connexion"),
        ({"nonce": "rejoue"}, "rejoué"),
        ({"aud": "quelqu-un-d-autre"}, "Jeton d'identité invalide"),
        ({"acr": "eidas0"}, "Jeton d'identité invalide"),  # PSC level below eidas1
        ({"iss": "https://faux-fournisseur.example"}, "Jeton d'identité invalide"),
        ({"rpps": "99999999999"}, "Aucun compte Relais"),
    ],
)
def test_it_refuses_every_bad_answer(client, provider, dr_alice, tamper, message):
    query = start(client)
    extra = {k: v for k, v in tamper.items() if k in {"nonce", "aud", "acr", "iss"}}
    tokens_for(provider, query, tamper.get("rpps", dr_alice.rpps), **extra)
    response = client.get(
        reverse("accounts:oidc_callback"),
        {"code": tamper.get("code", "bon-code"), "state": tamper.get("state", query["state"])},
        follow=True,
    )
    assert message in html.unescape(response.content.decode())
    assert "_auth_user_id" not in client.session


def test_it_hides_the_button_and_refuses_when_not_configured(client, settings):
    settings.RELAIS_OIDC = {"client_id": ""}
    assert "Pro Santé Connect" not in client.get(reverse("accounts:login")).content.decode()
    response = client.get(reverse("accounts:oidc_start"), follow=True)
    assert "n'est pas configurée" in html.unescape(response.content.decode())


def test_it_shows_the_button_when_configured(client, provider):
    assert "Pro Santé Connect" in client.get(reverse("accounts:login")).content.decode()
