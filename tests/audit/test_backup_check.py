"""`relais backup_check` end to end: its own throwaway source cluster with WAL archiving
(the archive_command of deploy/postgresql/backup), a base backup, writes after it that
only the WAL archive holds, then the restore into a scratch cluster and the comparison.

Skipped when the PostgreSQL server binaries are absent, unless RELAIS_REQUIRE_PG_BINARIES=1
(CI sets it: there the skip would hide a broken backup procedure)."""

import io
import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command

from relais.audit.management.commands import backup_check as bc

BINDIR = bc.pg_bindir()
if BINDIR is None and os.environ.get("RELAIS_REQUIRE_PG_BINARIES") == "1":
    raise RuntimeError("RELAIS_REQUIRE_PG_BINARIES=1 but no initdb/pg_ctl found")
pytestmark = pytest.mark.skipif(BINDIR is None, reason="PostgreSQL server binaries absent")

SOURCE_PORT, SCRATCH_PORT = 5493, 5494
ARCHIVE_SCRIPT = Path(__file__).resolve().parents[2] / "deploy/postgresql/backup/relais-wal-archive"


def _run(cmd, **kw):
    result = subprocess.run(bc.as_postgres(cmd), capture_output=True, text=True, **kw)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def source():
    """A source cluster archiving its WAL with the shipped script, database relais_src."""
    root = bc.scratch_dir("relais-src-")
    data, archive = root / "data", root / "wal"
    archive.mkdir()
    bc.give_to_postgres(root)
    _run([str(BINDIR / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-N"])
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            f"port = {SOURCE_PORT}\nlisten_addresses = ''\nunix_socket_directories = '{root}'\n"
            "wal_level = replica\narchive_mode = on\n"
            f"archive_command = 'RELAIS_WAL_ARCHIVE={archive} sh {ARCHIVE_SCRIPT} %p %f'\n"
            "shared_buffers = 32MB\nmax_wal_senders = 4\nfsync = off\n"
        )
    _run([str(BINDIR / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "start"])
    url = f"postgresql://postgres@/relais_src?host={root}&port={SOURCE_PORT}"
    try:
        with psycopg.connect(
            host=str(root), port=SOURCE_PORT, dbname="postgres", user="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE relais_src")
        yield root, url, archive
    finally:
        subprocess.run(
            bc.as_postgres([str(BINDIR / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _write(url, n_bookings, n_events):
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS orientation_booking (id bigserial PRIMARY KEY,"
            " status text, slot_id bigint, request_id bigint, created_at timestamptz"
            " DEFAULT now())"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS audit_auditevent (id bigserial, reason text)")
        for i in range(n_bookings):
            conn.execute(
                "INSERT INTO orientation_booking (status, slot_id, request_id)"
                " VALUES ('confirmed', %s, %s)",
                (i, 1000 + i),
            )
        conn.execute(
            "INSERT INTO audit_auditevent (reason) SELECT 'r' FROM generate_series(1, %s)",
            (n_events,),
        )


def test_it_restores_the_base_backup_and_the_archived_wal_and_finds_every_row(source):
    root, url, archive = source
    _write(url, 20, 500)
    base = root / "base"
    base.mkdir()
    bc.give_to_postgres(base)
    _run(
        [
            str(BINDIR / "pg_basebackup"),
            "-h",
            str(root),
            "-p",
            str(SOURCE_PORT),
            "-U",
            "postgres",
            "-D",
            str(base / "20261202T013000Z"),
            "-Ft",
            "-z",
            "-X",
            "stream",
        ]
    )
    _write(url, 7, 300)  # after the base backup: only in the archived WAL
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    call_command(
        "backup_check",
        base=str(base),
        wal_archive=str(archive),
        port=SCRATCH_PORT,
        source_url=url,
        stdout=out,
        stderr=err,
    )
    report = out.getvalue()
    assert "backup_check: OK" in report, report + err.getvalue()
    assert "last booking: id 27 identical" in report
    assert "rows: 827" in report  # 27 bookings + 800 audit rows
    assert "restore time" in report and time.monotonic() - started < 300
    print(report)  # the measured restore time (docs/operations.md "Backups")

    # Writes the archive never got (no WAL switch asked): the check must see them.
    _write(url, 3, 0)
    with pytest.raises(CommandError, match="différente"):
        call_command(
            "backup_check",
            base=str(base),
            wal_archive=str(archive),
            port=SCRATCH_PORT,
            source_url=url,
            no_switch_wal=True,
            stdout=io.StringIO(),
            stderr=err,
        )
    assert "orientation_booking: source 30, restored 27" in err.getvalue()


def test_it_says_so_when_the_archive_is_missing(tmp_path):
    with pytest.raises(CommandError, match="Archive WAL introuvable"):
        call_command(
            "backup_check",
            base=str(tmp_path),
            wal_archive=str(tmp_path / "nope"),
            source_url="postgresql://127.0.0.1:1/x",
        )
