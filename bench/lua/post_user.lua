-- POST /Users with a unique userName per request: "post-{run}-{thread}-{n}" (BENCH_RUN is unique
-- per run of run.sh, so a rerun against the same database does not collide).
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local c = require("common")
setup = c.setup
done = c.done
local run, n

function init(args)
  c.headers()
  wrk.headers["Content-Type"] = "application/scim+json"
  run = os.getenv("BENCH_RUN")
  n = 0
end

function request()
  n = n + 1
  local name = string.format("post-%s-%d-%d", run, tid, n)
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","name":{"givenName":"Bench","familyName":"' .. name .. '"},"active":true,' ..
    '"emails":[{"value":"' .. name .. '@work.example.com","type":"work","primary":true}]}'
  return wrk.format("POST", "/scim/v2/Users", nil, body)
end
