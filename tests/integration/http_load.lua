-- wrk script for test_http_concurrency.sh: requests /metrics, /health and
-- /ready in turn and checks every answer: 200 or 503, a whole JSON status
-- object or a whole exposition (first and last families present).
local paths = {"/metrics", "/health", "/ready"}
local threads = {}
local n = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, invalid, unavailable = 0, 0, 0
end

function request()
  n = n + 1
  return wrk.format("GET", paths[(n % 3) + 1])
end

function response(status, headers, body)
  local valid = false
  if status == 200 or status == 503 then
    if body:sub(1, 10) == '{"status":' and body:sub(-2) == "}\n" then
      valid = true
    elseif status == 200 and body:sub(1, 21) == "# HELP aac_build_info"
        and body:find("\naac_http_accept_errors_total %d+\n$") then
      valid = true
    end
  end
  if valid then ok = ok + 1 else invalid = invalid + 1 end
  if status == 503 then unavailable = unavailable + 1 end
end

function done(summary, latency, requests)
  local okc, inv, un = 0, 0, 0
  for _, t in ipairs(threads) do
    okc = okc + t:get("ok")
    inv = inv + t:get("invalid")
    un = un + t:get("unavailable")
  end
  io.write(string.format(
    "WRK requests=%d valid=%d invalid=%d status_503=%d connect_errors=%d read_errors=%d " ..
    "write_errors=%d timeouts=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
    summary.requests, okc, inv, un, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
