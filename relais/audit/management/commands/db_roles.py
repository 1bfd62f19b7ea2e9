"""`relais db_roles`: the database roles that make the audit trail unerasable (PostgreSQL).

- the owner role (`relais_owner`, NOLOGIN) owns every table, sequence and function of the
  schema: only it (and superusers) may TRUNCATE, ALTER, DISABLE or DROP a trigger;
- the application role (`relais_app`, LOGIN, NOSUPERUSER, NOBYPASSRLS, NOCREATEDB,
  NOCREATEROLE, NOREPLICATION) may SELECT/INSERT/UPDATE/DELETE the application tables and
  use their sequences, but on `audit_auditevent` only INSERT and SELECT; it cannot SET
  `session_replication_role` (a superuser parameter), so the append-only trigger holds.

Idempotent: run it after every `relais migrate` (which runs as the migrating role, owner or
superuser); it hands the new tables to the owner and grants them to the application role
(default privileges cover tables the owner creates itself). Production procedure:
docs/operations.md "Database roles"."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg import sql

AUDIT_TABLE = "audit_auditevent"


class Command(BaseCommand):
    help = "Crée ou met à jour les rôles PostgreSQL propriétaire / application (journal d'audit)."

    def add_arguments(self, parser):
        parser.add_argument("--owner", default=getattr(settings, "RELAIS_DB_OWNER_ROLE", ""))
        parser.add_argument("--app", default=getattr(settings, "RELAIS_DB_APP_ROLE", ""))
        parser.add_argument(
            "--app-password",
            default=getattr(settings, "RELAIS_DB_APP_PASSWORD", ""),
            help="mot de passe du rôle application (sinon inchangé)",
        )
        parser.add_argument("--schema", default="public")

    def handle(self, *args, owner, app, app_password, schema, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "relais db_roles ne s'applique qu'à PostgreSQL (la base configurée est "
                f"{connection.vendor}) : rien n'a été modifié."
            )
        owner, app = owner or "relais_owner", app or "relais_app"
        if owner == app:
            raise CommandError("Le rôle propriétaire et le rôle application doivent différer.")
        with transaction.atomic(), connection.cursor() as cursor:
            me = _one(cursor, "SELECT current_user")
            if app == me:
                raise CommandError(
                    f"Lancez db_roles avec le rôle de migration, pas avec {app} lui-même."
                )
            _ensure_role(cursor, owner, "NOLOGIN")
            _ensure_role(
                cursor,
                app,
                "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION NOINHERIT",
            )
            if app_password:
                cursor.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}")
                    .format(sql.Identifier(app), sql.Literal(app_password))
                    .as_string(connection.connection)
                )
            # The application role is no member of the owner role (nor of anything).
            for (granted,) in _all(
                cursor,
                "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
                [app],
            ):
                self._exec(cursor, "REVOKE {} FROM {}", granted, app)
            if me != owner:
                # The migrating role may hand tables over and create as the owner.
                self._exec(cursor, "GRANT {} TO {}", owner, me)
            db = _one(cursor, "SELECT current_database()")
            self._exec(cursor, "GRANT CONNECT ON DATABASE {} TO {}", db, app)
            self._exec(cursor, "GRANT USAGE ON SCHEMA {} TO {}", schema, app)
            self._exec(cursor, "REVOKE CREATE ON SCHEMA {} FROM PUBLIC", schema)
            self._exec(cursor, "REVOKE CREATE ON SCHEMA {} FROM {}", schema, app)
            tables = _column(
                cursor, "SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema]
            )
            for table in tables:
                self._exec(cursor, "ALTER TABLE {}.{} OWNER TO {}", schema, table, owner)
            for seq in _column(
                cursor, "SELECT sequencename FROM pg_sequences WHERE schemaname = %s", [schema]
            ):
                self._exec(cursor, "ALTER SEQUENCE {}.{} OWNER TO {}", schema, seq, owner)
            for signature in _column(
                cursor,
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace LEFT JOIN pg_depend d ON d.objid = p.oid "
                "AND d.deptype = 'e' WHERE n.nspname = %s AND d.objid IS NULL",
                [schema],
            ):
                cursor.execute(
                    sql.SQL("ALTER FUNCTION {} OWNER TO {}")
                    .format(sql.SQL(signature), sql.Identifier(owner))
                    .as_string(connection.connection)
                )
            self._exec(cursor, "REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}", schema, app)
            self._exec(
                cursor,
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}",
                schema,
                app,
            )
            self._exec(
                cursor, "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}", schema, app
            )
            if AUDIT_TABLE in tables:
                self._exec(cursor, "REVOKE ALL ON TABLE {}.{} FROM {}", schema, AUDIT_TABLE, app)
                self._exec(
                    cursor, "GRANT SELECT, INSERT ON TABLE {}.{} TO {}", schema, AUDIT_TABLE, app
                )
            for creator in {owner, me}:
                self._exec(
                    cursor,
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}",
                    creator,
                    schema,
                    app,
                )
                self._exec(
                    cursor,
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} "
                    "GRANT USAGE, SELECT ON SEQUENCES TO {}",
                    creator,
                    schema,
                    app,
                )
        self.stdout.write(
            f"Rôles prêts : {owner} possède {len(tables)} tables ; {app} lit et écrit les "
            f"tables de l'application, et seulement INSERT/SELECT sur {AUDIT_TABLE}."
        )

    @staticmethod
    def _exec(cursor, template: str, *names: str) -> None:
        statement = sql.SQL(template).format(*(sql.Identifier(n) for n in names))
        cursor.execute(statement.as_string(connection.connection))


def _ensure_role(cursor, name: str, attributes: str) -> None:
    exists = _one(cursor, "SELECT count(*) FROM pg_roles WHERE rolname = %s", [name])
    verb = "ALTER" if exists else "CREATE"
    cursor.execute(
        sql.SQL(f"{verb} ROLE {{}} {attributes}")
        .format(sql.Identifier(name))
        .as_string(connection.connection)
    )


def _one(cursor, query, params=None):
    cursor.execute(query, params or [])
    return cursor.fetchone()[0]


def _all(cursor, query, params=None):
    cursor.execute(query, params or [])
    return cursor.fetchall()


def _column(cursor, query, params=None) -> list[str]:
    return [row[0] for row in _all(cursor, query, params)]
