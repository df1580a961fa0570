-- GET /healthz: no auth, no database; the server's own HTTP ceiling.
package.path = os.getenv("BENCH_LUA") .. "/?.lua;" .. package.path
local c = require("common")
setup = c.setup
done = c.done

function request()
  return wrk.format("GET", "/healthz")
end
