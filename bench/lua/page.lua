-- GET /Users?startIndex=1&count=100: the first page of 100 users, with totalResults.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local c = require("common")
setup = c.setup
done = c.done

function init(args)
  c.headers()
end

function request()
  return wrk.format("GET", "/scim/v2/Users?startIndex=1&count=100")
end
