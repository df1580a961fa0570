-- GET /Users/{id}, ids drawn at random from an evenly spread sample of the seeded users.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local c = require("common")
setup = c.setup
done = c.done
local ids

function init(args)
  c.headers()
  ids = c.lines(os.getenv("BENCH_OUT") .. "/user-ids.txt")
  math.randomseed(tid + 1)
end

function request()
  return wrk.format("GET", "/scim/v2/Users/" .. ids[math.random(#ids)])
end
