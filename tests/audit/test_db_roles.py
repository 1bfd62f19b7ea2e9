"""`relais db_roles`: as the application's role, the audit trail cannot be erased.

Run on the test database, then a NEW connection logs in AS the application role (trust
authentication on the CI server) and tries each way of erasing the trail the issue
measured with the owning role: all must fail, while INSERT/SELECT on the trail and
writes to the ordinary tables still work."""

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from relais.audit.services import audit_record

OWNER, APP = "relais_test_owner", "relais_test_app"

ATTACKS = [
    "TRUNCATE audit_auditevent",
    "UPDATE audit_auditevent SET reason = 'effacé'",
    "DELETE FROM audit_auditevent",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only",
    "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_auditevent_append_only ON audit_auditevent",
    "DROP FUNCTION audit_auditevent_append_only() CASCADE",
    "ALTER TABLE audit_auditevent DROP CONSTRAINT audit_actor_named",
    "SET session_replication_role = replica",
    "DROP TABLE audit_auditevent",
    "ALTER TABLE audit_auditevent RENAME TO audit_old",
    "SET ROLE relais_test_owner",
    "CREATE TABLE audit_copy (id int)",
]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the message of SQLite")
@pytest.mark.django_db
def test_it_says_db_roles_is_for_postgresql_only():
    with pytest.raises(CommandError, match="ne s'applique qu'à PostgreSQL"):
        call_command("db_roles")


def _as_app():
    params = connection.get_connection_params()
    return psycopg.connect(
        host=params.get("host") or "127.0.0.1",
        port=params.get("port") or 5432,
        dbname=connection.settings_dict["NAME"],
        user=APP,
        autocommit=True,
    )


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_it_leaves_the_app_role_no_way_to_erase_the_audit_trail(olivia, capsys):
    event = audit_record(user=olivia, action="read", object_type="x", object_id="1")
    call_command("db_roles", owner=OWNER, app=APP, verbosity=0)
    call_command("db_roles", owner=OWNER, app=APP, verbosity=0)  # idempotent
    refused = []
    with _as_app() as conn:
        for attack in ATTACKS:
            try:
                conn.execute(attack)
            except psycopg.Error as exc:
                refused.append((attack, type(exc).__name__))
            else:
                pytest.fail(f"allowed to the application role: {attack}")
        # What the application needs still works.
        conn.execute(
            "INSERT INTO audit_auditevent (at, api_client, actor_type, actor_label, role, "
            "action, object_type, object_id, reason) VALUES (now(), '', 'system', "
            "'task:test', '', 'read', 'x', '2', '')"
        )
        assert conn.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0] == 2
        with pytest.raises(psycopg.errors.CheckViolation):  # a row must name its actor
            conn.execute(
                "INSERT INTO audit_auditevent (at, api_client, actor_type, actor_label, role, "
                "action, object_type, object_id, reason) VALUES (now(), '', '', '', '', "
                "'read', 'x', '3', '')"
            )
        conn.execute("UPDATE accounts_user SET first_name = 'Olivia' WHERE id = %s", [olivia.pk])
        conn.execute("INSERT INTO django_session VALUES ('k', 'v', now())")
        conn.execute("DELETE FROM django_session WHERE session_key = 'k'")
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, False)
    with capsys.disabled():
        print(f"\ndb_roles: {len(refused)} of {len(ATTACKS)} erasing attempts refused to {APP}")
    assert len(refused) == len(ATTACKS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reason FROM audit_auditevent WHERE id = %s", [event.pk])
        assert cursor.fetchone() == ("",)
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> %s",
            [OWNER],
        )
        assert cursor.fetchone() == (0,)
