-- GET /Users?filter=userName eq "user{i}", i at random among the seeded users.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local c = require("common")
setup = c.setup
done = c.done
local users

function init(args)
  c.headers()
  users = tonumber(os.getenv("BENCH_USERS"))
  math.randomseed(tid + 1)
end

function request()
  local f = string.format('userName eq "user%d"', math.random(users) - 1)
  return wrk.format("GET", "/scim/v2/Users?filter=" .. c.encode(f))
end
