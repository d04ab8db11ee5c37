-- wrk script of the load benchmark (bench.py): POSTs one GraphQL request with a
-- bearer token and checks every response body against the expected one.
-- Environment: BENCH_BODY (file with the JSON request), BENCH_EXPECT (file with the
-- expected response body), BENCH_TOKEN (access token).
local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.body = slurp(os.getenv("BENCH_BODY"))
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

local expected = slurp(os.getenv("BENCH_EXPECT"))
local threads = {}
bad = 0
checked = 0

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 or body ~= expected then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b, c = 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    c = c + t:get("checked")
  end
  io.write(string.format("CHECKED %d BAD %d\n", c, b))
end
