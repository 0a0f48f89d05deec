-- wrk body script: POST /v1/reserve with a unique request id per call (the engine
-- benchmark's configuration: key k0, user alice, gpt-4.1). With BENCH_KEYS=N in the
-- environment, calls go round-robin over keys k0..k<N-1> (one organization each).
local prefix = tostring(math.random(1, 1000000000))
local keys = tonumber(os.getenv("BENCH_KEYS") or "1") or 1
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"request_id":"wrk-%s-%d","api_key":"k%d","model":"gpt-4.1","input_tokens":500,"max_output_tokens":200,"user":"alice"}', prefix, counter, counter % keys)
  return wrk.format("POST", "/v1/reserve", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer tg_bench_5b1c9e77a0d4" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("wrk-summary requests=%d errors=%d non2xx=%d p50_ms=%.3f p99_ms=%.3f\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
