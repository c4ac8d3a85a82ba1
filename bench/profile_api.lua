-- wrk script: random profiles by id (4 in 5) and by email (1 in 5)
local count = tonumber(os.getenv("PROFILES") or "200000")
local token = os.getenv("TOKEN")
local counter = 0
init = function(args) math.randomseed(11 + (tonumber(args[1]) or 0)) end
request = function()
  local n = math.random(1, count)
  local path
  if math.random() < 0.8 then
    path = string.format("/v1/profiles/cus_%012d", n)
  else
    path = string.format("/v1/profiles?email=person%d%%40example.org", n)
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "errors_status": %d, "errors_connect": %d, "errors_read": %d, "errors_timeout": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
