#!/usr/bin/env bash
# The benchmark suite of the README, on one backend: generates the Nakama-shaped data set,
# starts a release server on it, runs every load workload and the raw-SQL baselines, and
# leaves one JSON result per run in the output directory.
#
#   crates/bench/suite.sh sqlite|postgres [OUTPUT_DIR] [SECONDS]
#
# Build first: cargo build --release -p amity -p amity-bench
# PostgreSQL: uses (and recreates) the database amity_bench_nakama on 127.0.0.1:5432 as the
# user postgres (override with PG_ADMIN_URL and PG_URL).
set -euo pipefail
BACKEND="${1:?usage: suite.sh sqlite|postgres [OUTPUT_DIR] [SECONDS]}"
OUT="${2:-bench-results}"
SECS="${3:-30}"
BIN="${BIN:-target/release}"
PORT="${PORT:-18080}"
URL="http://127.0.0.1:$PORT/graphql"
mkdir -p "$OUT"

case "$BACKEND" in
  sqlite)
    DB="$OUT/nakama.db"
    rm -f "$DB" "$DB-wal" "$DB-shm"
    DATABASE_URL="sqlite://$DB"
    ;;
  postgres)
    PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/amity_bench_nakama}"
    psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS amity_bench_nakama" -c "CREATE DATABASE amity_bench_nakama"
    DATABASE_URL="$PG_URL"
    ;;
  *) echo "unknown backend $BACKEND (sqlite or postgres)" >&2; exit 2 ;;
esac

"$BIN/amity-bench" dataset generate --shape nakama --database-url "$DATABASE_URL" \
  --manifest "$OUT/dataset.json" --output "$OUT/generate.json"

AMITY_LOG=warn AMITY_LISTEN_ADDR="127.0.0.1:$PORT" AMITY_DATABASE_URL="$DATABASE_URL" \
  AMITY_JWT_SECRET="${AMITY_JWT_SECRET:-amity-bench-secret-amity-bench-secret}" \
  AMITY_PASSWORD_HASH_MEMORY_KIB=1024 AMITY_PASSWORD_HASH_ITERATIONS=1 \
  AMITY_RATE_AUTH_PER_ADDRESS=0 AMITY_RATE_SIGNIN_FAILURES_PER_HANDLE=0 \
  AMITY_RATE_MUTATIONS_PER_USER=0 \
  "$BIN/amity" > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
READY=
for _ in $(seq 50); do
  if curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null; then READY=1; break; fi
  sleep 0.2
done
if [ -z "$READY" ]; then echo "the server did not become ready; see $OUT/server.log" >&2; exit 1; fi

run() { # name, then the amity-bench arguments
  local name=$1; shift
  echo "== $name"
  "$BIN/amity-bench" "$@" --output "$OUT/$name.json"
}
transactions() { # committed and rolled-back transactions of the benchmark database so far
  if [ "$BACKEND" = postgres ]; then
    psql "$PG_ADMIN_URL" -Atc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'amity_bench_nakama'"
  else echo 0; fi
}
XACTS=$(transactions)
run friends load friends --url "$URL" --manifest "$OUT/dataset.json" --connections 64 --duration "$SECS"
if [ "$BACKEND" = postgres ]; then
  # pg_stat_database is updated when a backend's transaction ends (and at most every second
  # or so for idle ones): let it settle. Warm-up requests count as transactions but not as
  # pages, so the figure errs high.
  sleep 2
  PAGES=$(jq '.figures.requests' "$OUT/friends.json")
  echo "database transactions during the friends load: $(( $(transactions) - XACTS )) for $PAGES pages" \
    "($(jq -n "($(transactions) - $XACTS) / $PAGES") per page)"
fi
run friends-general-path load friends-general-path --url "$URL" --manifest "$OUT/dataset.json" --connections 64 --duration "$SECS"
run recommendations load recommendations --url "$URL" --manifest "$OUT/dataset.json" --connections 64 --duration "$SECS"
run recommendations-8 load recommendations --url "$URL" --manifest "$OUT/dataset.json" --connections 8 --duration "$SECS"
run send-accept load send-accept --url "$URL" --connections 32 --duration "$SECS"
deadlocks() {
  if [ "$BACKEND" = postgres ]; then
    psql "$PG_ADMIN_URL" -Atc "SELECT deadlocks FROM pg_stat_database WHERE datname = 'amity_bench_nakama'"
  else echo 0; fi
}
BEFORE=$(deadlocks)
run invites load invites --url "$URL" --connections 32 --batch 50 --duration "$SECS" \
  --server-pid "$SERVER"
echo "deadlocks during the invites: $(( $(deadlocks) - BEFORE ))"
kill $SERVER; wait $SERVER 2>/dev/null || true
trap - EXIT
BASELINE_EXTRA=()
if [ "$BACKEND" = postgres ]; then BASELINE_EXTRA=(--pgbench-dir "$OUT/pgbench"); fi
run baseline-friends baseline friends --database-url "$DATABASE_URL" --manifest "$OUT/dataset.json" \
  --connections 64 --duration "$SECS" "${BASELINE_EXTRA[@]}"
run baseline-recommendations baseline recommendations --database-url "$DATABASE_URL" \
  --manifest "$OUT/dataset.json" --connections 64 --duration "$SECS"
run baseline-send-accept baseline send-accept --database-url "$DATABASE_URL" \
  --connections 32 --duration "$SECS"
