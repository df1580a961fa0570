-- PATCH the 100,000-member group: add one member, a different user each time (thread t of wrk
-- process s, of S processes with T threads each, takes ids k, k+S*T, k+2*S*T, ... of patch-ids.txt
-- with k = s*T + t, so no two requests add the same member until the pool is used up; after that an
-- add is a no-op, which run.sh reports). run.sh runs one wrk process per replica. The response leaves the member list
-- out (excludedAttributes=members): without it, the 200 carries all 100,000 members.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local c = require("common")
setup = c.setup
done = c.done
local ids, path, n, step

function init(args)
  c.headers()
  wrk.headers["Content-Type"] = "application/scim+json"
  ids = c.lines(os.getenv("BENCH_OUT") .. "/patch-ids.txt")
  local gid = c.lines(os.getenv("BENCH_OUT") .. "/group-id.txt")[1]
  path = "/scim/v2/Groups/" .. gid .. "?excludedAttributes=members"
  local threads = tonumber(os.getenv("BENCH_THREADS"))
  local shard = tonumber(os.getenv("BENCH_SHARD") or "0")
  n = shard * threads + tid
  step = threads * tonumber(os.getenv("BENCH_SHARDS") or "1")
end

function request()
  local id = ids[(n % #ids) + 1]
  n = n + step
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
    '{"op":"add","path":"members","value":[{"value":"' .. id .. '"}]}]}'
  return wrk.format("PATCH", path, nil, body)
end
