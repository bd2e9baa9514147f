#!/usr/bin/env bash
# Counts the durable commits that POST /teleconsultation costs: runs the
# service, sends 200 creates with curl, and counts fsync/fdatasync calls of
# the process (strace; SQLite) or the server's WAL syncs (pg_stat_wal;
# PostgreSQL, which must run with fsync=on). See BENCHMARKS.md.
#
# usage: scripts/count-commits.sh                 # SQLite under a temp DATA_DIR
#        scripts/count-commits.sh postgres://…    # an empty PostgreSQL database
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/teleconsult
go build -o "$bin" ./cmd/teleconsult
D=$(mktemp -d)
export DATA_DIR=$D API_KEYS=bench-key-0123456789abcdef LISTEN_ADDR=127.0.0.1:18080 LOG_LEVEL=warn DATABASE_URL="${1:-}"
"$bin" serve >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$D" "$(dirname "$bin")"' EXIT
sleep 1.5
body() { printf '{"start_date":"%s","duration_in_seconds":1800,"participants":{"number":2,"data":[{"userId":"doc-%d","groups":["doctor"],"fullName":"Dr A","email":"a@example.org"},{"userId":"pat-%d","groups":["patient"],"fullName":"P B"}]}}' "$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)" "$1" "$1"; }
post() { curl -s -o /dev/null -w '%{http_code}\n' -X POST localhost:18080/api/v1/telecons-be/teleconsultation \
  -H "Authorization: Bearer $API_KEYS" -H 'Content-Type: application/json' -d "$(body "$1")"; }
post 0 >/dev/null # warm up
if [ -n "$DATABASE_URL" ]; then before=$(psql "$DATABASE_URL" -At -c "select wal_sync from pg_stat_wal"); fi
strace -f -c -e trace=fsync,fdatasync -p $PID -o "$D/strace.out" 2>/dev/null &
SPID=$!
sleep 0.5
echo "responses:"; for i in $(seq 1 200); do post "$i"; done | sort | uniq -c
sleep 0.3
kill -INT $SPID; wait $SPID 2>/dev/null || true
if [ -n "$DATABASE_URL" ]; then
  after=$(psql "$DATABASE_URL" -At -c "select wal_sync from pg_stat_wal")
  echo "PostgreSQL WAL syncs during 200 creates: $((after - before))"
else
  echo "fsync/fdatasync calls of the service during 200 creates:"; grep -E 'fsync|fdatasync|total' "$D/strace.out"
fi
