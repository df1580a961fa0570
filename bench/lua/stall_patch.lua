-- The attack of bench/stall.sh: PATCH one user with the largest request the server accepts,
-- BENCH_OPS operations `replace emails[value eq "s{i}@a.example"].type`, alternating the type so
-- every request changes the document. BENCH_USER is the user's id.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local c = require("common")
setup = c.setup
done = c.done
local bodies, n

function init(args)
  c.headers()
  wrk.headers["Content-Type"] = "application/scim+json"
  local ops = tonumber(os.getenv("BENCH_OPS"))
  bodies = {}
  for _, t in ipairs({"work", "home"}) do
    local parts = {}
    for i = 0, ops - 1 do
      parts[#parts + 1] = string.format(
        '{"op":"replace","path":"emails[value eq \\"s%d@a.example\\"].type","value":"%s"}', i, t)
    end
    bodies[#bodies + 1] = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
      table.concat(parts, ",") .. "]}"
  end
  n = 0
end

function request()
  n = n + 1
  return wrk.format("PATCH", "/scim/v2/Users/" .. os.getenv("BENCH_USER"), nil, bodies[n % 2 + 1])
end
