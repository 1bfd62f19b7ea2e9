"""`relais backup_check --base DIR --wal-archive DIR`: prove that the backups restore.

Restores the newest base backup (deploy/postgresql/backup/relais-basebackup: a directory
with base.tar.gz and pg_wal.tar.gz, or a plain-format copy) plus the archived WAL into a
scratch cluster (a temporary directory, its own port, a Unix socket only, owned by the
postgres OS user when run as root), replays the archive to its end, then compares with
the source database: the row count of every table of the schema and the last booking
(orientation_booking, newest id). Prints the restore time. Exit status 1 (CommandError)
on any difference, or if the restore fails. The scratch cluster is stopped and removed
(--keep leaves it for a look).

In the audit app: this is the proof, after the audit trail the application cannot erase
(db_roles), that the trail and everything else can be brought back. It reads tables by
name (information_schema), not through other apps' models.

Before restoring it asks the source to switch to a new WAL segment and waits until the
archiver has copied it, so the archive holds every commit up to that point. The source
should be quiet during the check (a nightly slot, or a test database): a booking made
between the switch and the counts shows up as a difference (the report says which table).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

LAST_BOOKING_SQL = (
    "SELECT id, status, slot_id, request_id, created_at FROM orientation_booking "
    "ORDER BY id DESC LIMIT 1"
)


def pg_bindir() -> Path | None:
    """The PostgreSQL server binaries (initdb, pg_ctl), or None."""
    env = os.environ.get("PG_BINDIR")
    candidates = [Path(env)] if env else []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["pg_config", "--bindir"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in candidates:
        if (path / "pg_ctl").exists() and (path / "initdb").exists():
            return path
    return None


def as_postgres(cmd: list[str]) -> list[str]:
    """Run as the postgres OS user when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for root, dirs, files in os.walk(path):
            os.chown(root, user.pw_uid, user.pw_gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def scratch_dir(prefix: str) -> Path:
    """A private temporary directory the postgres user can use (0700, its owner)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("RELAIS_SCRATCH_DIR")))
    give_to_postgres(path)
    return path


def pg_ctl(bindir: Path, datadir: Path, *args: str, timeout: int = 600) -> None:
    cmd = as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), *args])
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)  # noqa: S603
    if result.returncode != 0:
        raise CommandError(f"pg_ctl {' '.join(args[:1])} : {result.stderr.strip()[-500:]}")


def newest_backup(base: Path) -> Path:
    if (base / "base.tar.gz").exists() or (base / "PG_VERSION").exists():
        return base
    found = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.endswith(".partial"))
    if not found:
        raise CommandError(f"Aucune sauvegarde de base dans {base}.")
    return found[-1]


def unpack(backup: Path, datadir: Path) -> None:
    datadir.mkdir(mode=0o700)
    if (backup / "PG_VERSION").exists():
        shutil.copytree(backup, datadir, dirs_exist_ok=True)
    else:
        with tarfile.open(backup / "base.tar.gz") as tar:
            tar.extractall(datadir, filter="fully_trusted")  # noqa: S202 - our own backup
        wal = backup / "pg_wal.tar.gz"
        if wal.exists():
            with tarfile.open(wal) as tar:
                tar.extractall(datadir / "pg_wal", filter="fully_trusted")  # noqa: S202
    for stale in ("postmaster.pid", "postmaster.opts", "standby.signal"):
        with contextlib.suppress(FileNotFoundError):
            (datadir / stale).unlink()
    os.chmod(datadir, 0o700)


def counts(conn) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
        tables = [row[0] for row in cur.fetchall()]
        result = {}
        for table in tables:
            cur.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - names from the catalog
            result[table] = cur.fetchone()[0]
    return result


def last_booking(conn, tables) -> tuple | None:
    if "orientation_booking" not in tables:
        return None
    with conn.cursor() as cur:
        cur.execute(LAST_BOOKING_SQL)
        return cur.fetchone()


class Command(BaseCommand):
    help = (
        "Restaure la dernière sauvegarde de base et les WAL archivés dans une grappe "
        "jetable et compare le nombre de lignes de chaque table et la dernière réservation."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base", required=True, help="base backup (or their parent) dir")
        parser.add_argument("--wal-archive", required=True, help="archived WAL directory")
        parser.add_argument("--port", type=int, default=5498, help="scratch cluster port")
        parser.add_argument("--source-url", default="", help="source (default: DATABASE_URL)")
        parser.add_argument(
            "--no-switch-wal", action="store_true", help="do not force a WAL switch first"
        )
        parser.add_argument("--keep", action="store_true", help="keep the scratch cluster")

    def handle(self, *, base, wal_archive, port, source_url, no_switch_wal, keep, **options):
        bindir = pg_bindir()
        if bindir is None:
            raise CommandError("Binaires serveur PostgreSQL (initdb, pg_ctl) introuvables.")
        archive = Path(wal_archive).resolve()
        if not archive.is_dir():
            raise CommandError(f"Archive WAL introuvable : {archive}.")
        source = self._source(source_url)
        try:
            if not no_switch_wal:
                self._switch_and_wait(source)
            source_counts = counts(source)
            source_last = last_booking(source, source_counts)
            dbname = source.info.dbname
        finally:
            source.close()
        backup = newest_backup(Path(base).resolve())
        scratch = scratch_dir("relais-restore-")
        datadir = scratch / "data"
        started = time.monotonic()
        try:
            unpack(backup, datadir)
            self._configure(datadir, scratch=scratch, archive=archive, port=port)
            give_to_postgres(scratch)
            try:
                pg_ctl(bindir, datadir, "-w", "-t", "600", "-l", str(scratch / "log"), "start")
            except CommandError as exc:
                log = (scratch / "log").read_text(errors="replace")[-1500:]
                raise CommandError(f"{exc}\n{log}") from exc
            restored = self._wait_promoted(scratch, port, dbname)
            elapsed = time.monotonic() - started
            try:
                restored_counts = counts(restored)
                restored_last = last_booking(restored, restored_counts)
            finally:
                restored.close()
        except subprocess.SubprocessError as exc:
            raise CommandError(f"Restauration impossible : {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                pg_ctl(bindir, datadir, "-m", "fast", "-w", "stop", timeout=120)
            if not keep:
                shutil.rmtree(scratch, ignore_errors=True)
        self._report(
            backup,
            elapsed,
            source_counts,
            restored_counts,
            source_last,
            restored_last,
            keep=keep,
            scratch=scratch,
        )

    # --- steps ------------------------------------------------------------------------

    def _source(self, url: str):
        if url:
            return psycopg.connect(url, autocommit=True)
        conn = connections["default"]
        if conn.vendor != "postgresql":
            raise CommandError("backup_check compare avec une base PostgreSQL (DATABASE_URL).")
        params = conn.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params.pop("prepare_threshold", None)
        return psycopg.connect(autocommit=True, **params)

    def _switch_and_wait(self, source, timeout: float = 120) -> None:
        with source.cursor() as cur:
            cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
            segment = cur.fetchone()[0]
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                cur.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver")
                archived, _failed = cur.fetchone()
                if archived and archived[:24] >= segment:
                    return
                time.sleep(0.2)
        raise CommandError(f"Le segment WAL {segment} n'a pas été archivé en {timeout:.0f} s.")

    @staticmethod
    def _configure(datadir: Path, *, scratch: Path, archive: Path, port: int) -> None:
        with open(datadir / "postgresql.auto.conf", "a") as conf:
            conf.write(
                "\n# relais backup_check: a throwaway restore\n"
                f"port = {port}\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{scratch}'\n"
                f"restore_command = 'cp {archive}/%f %p'\n"
                "recovery_target_action = 'promote'\n"
                "archive_mode = off\n"
                "hot_standby = off\n"  # connect once promoted only
                "shared_buffers = 32MB\n"
                "synchronous_standby_names = ''\n"
            )
        (datadir / "pg_hba.conf").write_text("local all all trust\n")
        (datadir / "recovery.signal").write_text("")

    @staticmethod
    def _wait_promoted(scratch: Path, port: int, dbname: str, timeout: float = 900):
        deadline = time.monotonic() + timeout
        last_error = None
        user = "postgres"
        while time.monotonic() < deadline:
            try:
                conn = psycopg.connect(
                    host=str(scratch), port=port, dbname=dbname, user=user, autocommit=True
                )
            except psycopg.OperationalError as exc:
                last_error = exc
                time.sleep(0.2)
                continue
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                if not cur.fetchone()[0]:
                    return conn
            conn.close()
            time.sleep(0.2)
        raise CommandError(f"La grappe restaurée n'a pas fini la relecture des WAL : {last_error}")

    def _report(self, backup, elapsed, src, dst, src_last, dst_last, *, keep, scratch) -> None:
        self.stdout.write(f"base backup: {backup}")
        self.stdout.write(f"restore time (unpack + WAL replay + promote): {elapsed:.1f} s")
        differences = []
        for table in sorted(set(src) | set(dst)):
            a, b = src.get(table), dst.get(table)
            if a != b:
                differences.append(f"{table}: source {a}, restored {b}")
        total = sum(src.values())
        self.stdout.write(f"tables: {len(src)}, rows: {total} (source)")
        if src_last != dst_last:
            differences.append(f"last booking: source {src_last!r}, restored {dst_last!r}")
        elif src_last is not None:
            self.stdout.write(f"last booking: id {src_last[0]} identical")
        if keep:
            self.stdout.write(f"scratch cluster kept in {scratch}")
        if differences:
            for line in differences:
                self.stderr.write(line)
            raise CommandError(f"Restauration différente de la source ({len(differences)}).")
        self.stdout.write("backup_check: OK (every table's row count and the last booking match)")
