-- wrk body script: POST /v1/chat/completions (non-streaming) through the gateway or straight
-- to the mock provider; the same body either way. PROXY_TOKEN in the environment is the
-- service token (ignored by the mock).
local token = os.getenv("PROXY_TOKEN") or "none"
local body = '{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say something short. mock:output=8"}]}'
request = function()
  return wrk.format("POST", "/v1/chat/completions", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token,
    ["x-tollgate-api-key"] = "bench-key", ["x-tollgate-feature"] = "bench" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("wrk-summary requests=%d errors=%d non2xx=%d p50_ms=%.3f p99_ms=%.3f\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
