-- wrk body script: POST /v1/chat/completions (non-streaming) through a proxy or straight to
-- the mock provider; the same body either way. From the environment: PROXY_TOKEN, the
-- service token (or LiteLLM's key; ignored by the mock), PROXY_KEY, the Tollgate API key
-- (default bench-key), PROXY_MODEL (default gpt-4o-mini).
local token = os.getenv("PROXY_TOKEN") or "none"
local key = os.getenv("PROXY_KEY") or "bench-key"
local model = os.getenv("PROXY_MODEL") or "gpt-4o-mini"
local body = '{"model":"' .. model .. '","max_tokens":16,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say something short. mock:output=8"}]}'
request = function()
  return wrk.format("POST", "/v1/chat/completions", { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token,
    ["x-tollgate-api-key"] = key, ["x-tollgate-feature"] = "bench" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("wrk-summary requests=%d errors=%d non2xx=%d p50_ms=%.3f p99_ms=%.3f\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
