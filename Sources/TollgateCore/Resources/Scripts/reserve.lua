-- reserve.lua — admit a request against every level's limits, all or nothing.
--
-- KEYS[1] organisation state hash   KEYS[2] request record   KEYS[3] partition hold index
-- ARGV[1]  hold index member (org:request_id)
-- ARGV[2]  clock offset ms          ARGV[3]  timezone offset ms
-- ARGV[4]  bucket ms                ARGV[5]  buckets per window (K)
-- ARGV[6]  hold time-to-live ms     ARGV[7]  idempotency retention ms
-- ARGV[8]  estimated input tokens   ARGV[9]  estimated output tokens
-- ARGV[10] model  ARGV[11] provider  ARGV[12] price version
-- ARGV[13..17] prices (nano-units per 1M tokens): input, cached input, cache write, output, reasoning
-- ARGV[18] user  ARGV[19] feature  ARGV[20] session  ARGV[21] tier
-- ARGV[22] key id  ARGV[23] workspace id
-- ARGV[24] level count, then 8 per level (see read_levels)
--
-- Replies:
--   {1, hold expiry ms, estimated tokens, estimated cost (nanos), now ms,
--    tokens limit, tokens remaining, tokens reset ms, requests limit, requests remaining, requests reset ms}
--   {0, limit ('tpm', 'rpm', 'budget_daily', 'budget_monthly', 'tokens_daily', 'tokens_monthly'),
--    level index (1-based), retry after ms (-1: too large, never fits), too large (0/1),
--    tokens limit, tokens remaining, tokens reset ms, requests limit, requests remaining, requests reset ms}
--   {2, state ('H' held, 'C' committed, 'R' released, 'X' expired), hold expiry, estimated tokens, estimated cost}
--   for a request id seen before: reserve is idempotent, nothing changes.
-- A refusal writes nothing.

local existing = redis.call('GET', KEYS[2])
if existing then
  local h = cmsgpack.unpack(existing)
  if h[1] == 'H' then return { 2, 'H', h[2], h[7], string.format('%d', h[8]) } end
  return { 2, h[1], 0, 0, '0' }
end

local now = now_ms(tonumber(ARGV[2]))
local tz = tonumber(ARGV[3])
local bucket_ms = tonumber(ARGV[4])
local K = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local est_in, est_out = tonumber(ARGV[8]), tonumber(ARGV[9])
local prices = { tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17]) }
local est_tokens = est_in + est_out
-- Estimate conservatively: all input uncached, all output at the dearer of output and reasoning.
local est_cost = cost_of({ est_in, 0, 0, est_out, 0 }, { prices[1], 0, 0, math.max(prices[4], prices[5]), 0 })
local cost_u, cost_n = m_norm(0, est_cost)

local c = math.floor(now / bucket_ms)
local day, month = periods(now, tz)
local levels = read_levels(24)
local marker = load_levels(levels, K, c, day, month)

-- Pass 1: a request that can never fit is too large, not told to retry.
for i = 1, #levels do
  local l = levels[i]
  local what = nil
  if l.tpm and est_tokens > l.tpm then what = 'tpm'
  elseif l.rpm and l.rpm < 1 then what = 'rpm'
  elseif l.bd_u and not m_le(cost_u, cost_n, l.bd_u, l.bd_n) then what = 'budget_daily'
  elseif l.bm_u and not m_le(cost_u, cost_n, l.bm_u, l.bm_n) then what = 'budget_monthly'
  elseif l.dtok and est_tokens > l.dtok then what = 'tokens_daily'
  elseif l.mtok and est_tokens > l.mtok then what = 'tokens_monthly'
  end
  if what then
    return { 0, what, i, -1, 1, l.tpm or -1, l.tpm and math.max(0, l.tpm - l.s[3]) or -1, 0, l.rpm or -1,
      l.rpm and math.max(0, l.rpm - l.s[4]) or -1, 0 }
  end
end

-- Pass 2: every limit of every level; on refusal report the one that frees up last.
local refusal, refusal_level, refusal_retry = nil, 0, -1
local function refuse(what, i, retry)
  if retry > refusal_retry then refusal, refusal_level, refusal_retry = what, i, retry end
end
for i = 1, #levels do
  local l, s = levels[i], levels[i].s
  if l.tpm and s[3] + est_tokens > l.tpm then
    refuse('tpm', i, window_retry(s, K, bucket_ms, now, s[3] + est_tokens - l.tpm, 1))
  end
  if l.rpm and s[4] + 1 > l.rpm then
    refuse('rpm', i, window_retry(s, K, bucket_ms, now, s[4] + 1 - l.rpm, 2))
  end
  if l.bd_u then
    local u, n = m_add(s[6], s[7], s[8], s[9])
    u, n = m_add(u, n, cost_u, cost_n)
    if not m_le(u, n, l.bd_u, l.bd_n) then refuse('budget_daily', i, day_end(day, tz) - now) end
  end
  if l.bm_u then
    local u, n = m_add(s[13], s[14], s[15], s[16])
    u, n = m_add(u, n, cost_u, cost_n)
    if not m_le(u, n, l.bm_u, l.bm_n) then refuse('budget_monthly', i, month_end(month, tz) - now) end
  end
  if l.dtok and s[10] + s[11] + est_tokens > l.dtok then refuse('tokens_daily', i, day_end(day, tz) - now) end
  if l.mtok and s[17] + s[18] + est_tokens > l.mtok then refuse('tokens_monthly', i, month_end(month, tz) - now) end
end

-- The most constraining level for the rate-limit headers (least remaining).
local function headers(extra_tokens, extra_requests)
  local lt, rt, lr, rr = -1, -1, -1, -1
  for i = 1, #levels do
    local l, s = levels[i], levels[i].s
    if l.tpm then
      local remaining = math.max(0, l.tpm - s[3] - extra_tokens)
      if rt < 0 or remaining < rt then lt, rt = l.tpm, remaining end
    end
    if l.rpm then
      local remaining = math.max(0, l.rpm - s[4] - extra_requests)
      if rr < 0 or remaining < rr then lr, rr = l.rpm, remaining end
    end
  end
  return lt, rt, lr, rr
end

if refusal then
  local l = levels[refusal_level]
  local lt, rt, lr, rr = headers(0, 0)
  local reset = window_reset(l.s, K, bucket_ms, now)
  return { 0, refusal, refusal_level, refusal_retry, 0, lt, rt, reset, lr, rr, reset }
end

-- Admit: count the estimate in every window, hold its cost and tokens against every budget.
local fields = {}
for i = 1, #levels do
  local s = levels[i].s
  window_add(s, K, c, est_tokens, 1)
  hold_add(s, cost_u, cost_n, est_tokens)
  fields[i] = levels[i].field
end
save_levels(levels, marker, month, now, tz)

local expiry = now + ttl
local hold = cmsgpack.pack({ 'H', expiry, now, c, day, month, est_tokens, est_cost, fields,
  ARGV[10], ARGV[11], ARGV[12], prices, ARGV[18], ARGV[19], ARGV[20], ARGV[21], ARGV[22], ARGV[23], est_in, est_out })
redis.call('SET', KEYS[2], hold, 'PX', ttl + tonumber(ARGV[7]))
redis.call('ZADD', KEYS[3], expiry, ARGV[1])

local lt, rt, lr, rr = headers(0, 0)
local reset = (c + K) * bucket_ms - now
return { 1, expiry, est_tokens, string.format('%d', est_cost), now, lt, rt, reset, lr, rr, reset }
