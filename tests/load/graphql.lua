-- wrk script: one GraphQL query, over and over, as a signed-in user (TOKEN).
-- QUERY is the query (JSON-escaped); without it, one page of 100 friends with presence fields:
--   TOKEN=$(tests/load/setup-friends.sh) wrk -t2 -c64 -d30s -s tests/load/graphql.lua http://127.0.0.1:8080/graphql
--   TOKEN=... QUERY='{ me { id handle role } }' wrk -t2 -c64 -d20s -s tests/load/graphql.lua http://127.0.0.1:8080/graphql
-- A response that is not HTTP 200 or that carries GraphQL errors is counted as an error.
local friends = "{ friends(first: 100) { edges { cursor node { state updatedAt metadata user { id handle displayName online lastSeenAt } } } pageInfo { hasNextPage endCursor } } }"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
wrk.body = '{"query":"' .. (os.getenv("QUERY") or friends) .. '"}'

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  errors = 0
  edges = 0
end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("errors")
  end
  io.write(string.format("GraphQL or HTTP errors: %d of %d responses\n", total, summary.requests))
  io.write(string.format("p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
