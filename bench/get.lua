-- wrk script for GET requests with one key: L2I_BENCH_KEYS holds the key, the URL gives the path and query.
package.path = os.getenv("L2I_BENCH_DIR") .. "/?.lua;" .. package.path
local report = require("report")

setup = report.setup

function init(args)
  statuses = {}
  wrk.headers["Authorization"] = "Bearer " .. string.match(os.getenv("L2I_BENCH_KEYS"), "[^,]+")
end

function response(status, headers, body)
  report.count(status)
end

done = report.done
