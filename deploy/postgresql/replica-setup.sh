#!/bin/sh
# Create the streaming replica of the Relais primary (run as postgres on the replica host).
#   PRIMARY_HOST=10.0.0.1 REPLICA_NAME=replica1 PGDATA=/var/lib/postgresql/15/main \
#     sh deploy/postgresql/replica-setup.sh
# The primary needs, in pg_hba.conf:  host replication replicator <replica-ip>/32 scram-sha-256
# and the role:  CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '…';
# (password in ~postgres/.pgpass on the replica). With Patroni, do not run this: Patroni
# bootstraps its replicas itself (deploy/patroni/patroni.yml).
set -eu
: "${PRIMARY_HOST:?}" "${PGDATA:?}"
REPLICA_NAME="${REPLICA_NAME:-replica1}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
test -z "$(ls -A "$PGDATA" 2>/dev/null)" || { echo "$PGDATA is not empty" >&2; exit 1; }
"$PG_BIN/pg_basebackup" -D "$PGDATA" -R -X stream -c fast -P \
  -d "host=$PRIMARY_HOST user=replicator application_name=$REPLICA_NAME" \
  -C -S "$REPLICA_NAME"        # a replication slot: the primary keeps the WAL it needs
cp "$(dirname "$0")/replica.conf" "$PGDATA/conf.d-relais-replica.conf"
echo "include 'conf.d-relais-replica.conf'" >> "$PGDATA/postgresql.auto.conf"
echo "Replica ready in $PGDATA: start it (pg_ctlcluster 15 main start), then check"
echo "  SELECT application_name, state, sync_state FROM pg_stat_replication;  -- on the primary"
