-- PATCH the 100,000-member group: add one member, a different user each time (thread t takes
-- ids t, t+T, t+2T, ... of patch-ids.txt, so no two requests add the same member until the pool is
-- used up; after that an add is a no-op, which run.sh reports). The response leaves the member list
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
  n = tid
  step = tonumber(os.getenv("BENCH_THREADS"))
end

function request()
  local id = ids[(n % #ids) + 1]
  n = n + step
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
    '{"op":"add","path":"members","value":[{"value":"' .. id .. '"}]}]}'
  return wrk.format("PATCH", path, nil, body)
end
