"""After a PostgreSQL restart, a web worker's persistent connections are dead: with
CONN_HEALTH_CHECKS (relais/settings.py, issue 22) the next request reopens one instead of
answering 500."""

import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.test import Client

from tests.api.test_api import auth, make_token


def test_persistent_connections_are_health_checked():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def _terminate(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL (DATABASE_URL=postgres://…)",
)
@pytest.mark.django_db(transaction=True)
def test_a_call_after_the_servers_connection_died_is_answered(sas91, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 600)
    connection.close()  # reopened persistent (the fixtures opened it with CONN_MAX_AGE 0)
    token = make_token("requests:read", name="apres-redemarrage")
    http = Client(raise_request_exception=False)
    try:
        assert http.get("/api/v1/requests", **auth(token)).status_code == 200
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            before = cursor.fetchone()[0]
        _terminate(before)  # what a restart does to every open connection
        # What a real server (gunicorn) runs on request_started, which the test client
        # leaves out: the connection is flagged for a health check on its next use.
        close_old_connections()
        response = http.get("/api/v1/requests", **auth(token))
        assert response.status_code == 200
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != before
    finally:
        connection.close()
