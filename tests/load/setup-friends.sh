#!/usr/bin/env bash
# Makes a user with N friends (default 100) on a running server and prints their token.
# Usage: tests/load/setup-friends.sh [URL] [N] > token
set -euo pipefail
URL="${1:-http://127.0.0.1:8080/graphql}"
N="${2:-100}"
RUN="$(date +%s)$RANDOM"
gql() { # token query
  curl -fsS "$URL" -H 'content-type: application/json' ${1:+-H "authorization: Bearer $1"} -d "$2"
}
token_of() { sed -E 's/.*"token":"([^"]+)".*/\1/'; }
owner=$(gql "" "{\"query\":\"mutation { signUp(handle: \\\"owner$RUN\\\", password: \\\"load-test-pw\\\") { token } }\"}" | token_of)
handles=""
tokens=()
for i in $(seq 1 "$N"); do
  h="f${RUN}_$i"
  tokens+=("$(gql "" "{\"query\":\"mutation { signUp(handle: \\\"$h\\\", password: \\\"load-test-pw\\\") { token } }\"}" | token_of)")
  handles="$handles\\\"$h\\\","
done
gql "$owner" "{\"query\":\"mutation { addFriends(handles: [${handles%,}]) { state } }\"}" >/dev/null
for t in "${tokens[@]}"; do
  gql "$t" "{\"query\":\"mutation { addFriends(handles: [\\\"owner$RUN\\\"]) { state } }\"}" >/dev/null
done
echo "$owner"
