"""Helpers for the FHIR tests: tokens, FHIR validation, a local fake HTTP endpoint."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fhir.resources.R4B import get_fhir_model_class

from relais.accounts.services import api_client_create

RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"


def make_token(scopes: str, name: str = "plateforme-sas", sas_scope=()) -> str:
    client, token = api_client_create(name=name, scopes=scopes.split(","))
    if sas_scope:
        client.sas_scope.add(*sas_scope)
    return token


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def validate(resource: dict):
    """Validate with the fhir.resources R4B model of its type (a Bundle validates its entries)."""
    model = get_fhir_model_class(resource["resourceType"])
    return model.model_validate(resource)


def validate_bundle(bundle: dict) -> dict:
    validate(bundle)
    for entry in bundle.get("entry", []):
        validate(entry["resource"])
    return bundle


def by_type(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


class FakeEndpoint:
    """A FHIR server on 127.0.0.1 answering from `responder(method, path, body)`."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict | None, dict]] = []
        self.responder = lambda method, path, body: (200, {"resourceType": "OperationOutcome"})
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                outer.calls.append((self.command, self.path, body, dict(self.headers)))
                status, answer = outer.responder(self.command, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_endpoint():
    endpoint = FakeEndpoint()
    yield endpoint
    endpoint.close()
