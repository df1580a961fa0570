-- GET /Groups/{id}?excludedAttributes=members on the 100,000-member group.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local c = require("common")
setup = c.setup
done = c.done
local path

function init(args)
  c.headers()
  local gid = c.lines(os.getenv("BENCH_OUT") .. "/group-id.txt")[1]
  path = "/scim/v2/Groups/" .. gid .. "?excludedAttributes=members"
end

function request()
  return wrk.format("GET", path)
end
