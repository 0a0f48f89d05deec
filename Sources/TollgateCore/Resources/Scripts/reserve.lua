-- reserve.lua — admit a request against every level's limits, all or nothing.
--
-- KEYS[1] organisation state hash   KEYS[2] request record   KEYS[3] partition hold index
-- ARGV[1] hold index member (org:request_id)
-- ARGV[2] model, provider, price version, user, feature, session, tier, key, workspace,
--         experiment —
--         tab-separated, kept in the hold for the ledger entry of its commit
-- ARGV[3 .. 2+L] subject fields of the levels
-- ARGV[3+L] (last) numbers (doubles): clock offset ms, timezone offset ms, bucket ms, K,
--         hold time-to-live ms, idempotency retention ms, estimated input tokens,
--         estimated output tokens, 5 prices (nano-units per 1M tokens: input, cached input,
--         cache write, output, reasoning), level count L, then per level: tpm, rpm,
--         daily budget (units, nanos), monthly budget (units, nanos), daily tokens,
--         monthly tokens (-1: no limit)
--
-- Replies:
--   {1, hold expiry ms, estimated tokens, estimated cost (nanos), now ms,
--    tokens limit, tokens remaining, tokens reset ms, requests limit, requests remaining, requests reset ms}
--   {0, limit ('tpm', 'rpm', 'budget_daily', 'budget_monthly', 'tokens_daily', 'tokens_monthly'),
--    level (1-based), retry after ms (-1: never fits), too large (0/1), then the six header values}
--   {2, state ('H', 'C', 'R', 'X'), hold expiry, estimated tokens, estimated cost, reserved at}:
--    the request id was seen before; nothing changes.
-- A refusal writes nothing.

local existing = redis.call('GET', KEYS[2])
if existing then
  local state = string.sub(existing, 1, 1)
  if state == 'H' then
    local expiry, reserved, _, _, _, tokens, cost = struct.unpack('<ddddddd', existing, 2)
    return { 2, 'H', expiry, tokens, string.format('%d', cost), reserved }
  end
  return { 2, state, 0, 0, '0', 0 }
end

local a = numbers(ARGV[#ARGV], 14, 8)
local L = a[14]
local now = now_ms(a[1])
local tz, bucket_ms, K = a[2], a[3], a[4]
local est_in, est_out = a[7], a[8]
local est_tokens = est_in + est_out
-- Conservative estimate: all input uncached, all output at the dearer of output and reasoning.
local p_in, p_out = a[9], math.max(a[12], a[13])
local a_in, a_out = math.floor(p_in / 1000000), math.floor(p_out / 1000000)
local est_cost = est_in * a_in + est_out * a_out
  + math.floor((est_in * (p_in - a_in * 1000000) + est_out * (p_out - a_out * 1000000) + 500000) / 1000000)
local cu, cn = madd(0, 0, 0, est_cost)

local c = math.floor(now / bucket_ms)
local day, month = periods(now, tz)
local fields, windowed = {}, {}
for i = 1, L do
  fields[i] = ARGV[2 + i]
  local b = 14 + (i - 1) * 8
  windowed[i] = a[b + 1] >= 0 or a[b + 2] >= 0
end
local subjects, marker = load_all(fields, windowed, K, c, day, month)

-- Milliseconds until `needed` tokens (which = 1) or requests (2) of subject s leave the window.
local function window_retry(s, needed, which)
  local freed = 0
  for j = s[2] - K + 1, s[2] do
    local t, r = slot(s, K, j)
    freed = freed + (which == 1 and t or r)
    if freed >= needed then return (j + K) * bucket_ms - now end
  end
  return (s[2] + K) * bucket_ms - now
end

-- Pass 1: a request that can never fit is too large, and is not told to retry.
for i = 1, L do
  local b = 14 + (i - 1) * 8
  local what = nil
  if a[b + 1] >= 0 and est_tokens > a[b + 1] then what = 'tpm'
  elseif a[b + 2] >= 0 and a[b + 2] < 1 then what = 'rpm'
  elseif a[b + 3] >= 0 and not mle(cu, cn, a[b + 3], a[b + 4]) then what = 'budget_daily'
  elseif a[b + 5] >= 0 and not mle(cu, cn, a[b + 5], a[b + 6]) then what = 'budget_monthly'
  elseif a[b + 7] >= 0 and est_tokens > a[b + 7] then what = 'tokens_daily'
  elseif a[b + 8] >= 0 and est_tokens > a[b + 8] then what = 'tokens_monthly'
  end
  if what then return { 0, what, i, -1, 1, -1, -1, 0, -1, -1, 0 } end
end

-- Pass 2: every limit; on refusal, report the one that frees up last.
local refusal, refusal_level, refusal_retry = nil, 0, -2
for i = 1, L do
  local b, s = 14 + (i - 1) * 8, subjects[i]
  local what, retry = nil, -2
  if a[b + 1] >= 0 and s[3] + est_tokens > a[b + 1] then
    local r = window_retry(s, s[3] + est_tokens - a[b + 1], 1)
    if r > retry then what, retry = 'tpm', r end
  end
  if a[b + 2] >= 0 and s[4] + 1 > a[b + 2] then
    local r = window_retry(s, s[4] + 1 - a[b + 2], 2)
    if r > retry then what, retry = 'rpm', r end
  end
  if a[b + 3] >= 0 then
    local u, n = madd(s[6], s[7], s[8], s[9])
    u, n = madd(u, n, cu, cn)
    if not mle(u, n, a[b + 3], a[b + 4]) and (day + 1) * DAY_MS - tz - now > retry then what, retry = 'budget_daily', (day + 1) * DAY_MS - tz - now end
  end
  if a[b + 5] >= 0 then
    local u, n = madd(s[12], s[13], s[14], s[15])
    u, n = madd(u, n, cu, cn)
    if not mle(u, n, a[b + 5], a[b + 6]) and month_end(month, tz) - now > retry then what, retry = 'budget_monthly', month_end(month, tz) - now end
  end
  if a[b + 7] >= 0 and s[10] + est_tokens > a[b + 7] and (day + 1) * DAY_MS - tz - now > retry then what, retry = 'tokens_daily', (day + 1) * DAY_MS - tz - now end
  if a[b + 8] >= 0 and s[16] + est_tokens > a[b + 8] and month_end(month, tz) - now > retry then what, retry = 'tokens_monthly', month_end(month, tz) - now end
  if what and retry > refusal_retry then refusal, refusal_level, refusal_retry = what, i, retry end
end

-- Rate-limit headers: the level with the least remaining, for tokens and for requests.
local function headers(extra_tokens, extra_requests)
  local lt, rt, lr, rr = -1, -1, -1, -1
  for i = 1, L do
    local b, s = 14 + (i - 1) * 8, subjects[i]
    if a[b + 1] >= 0 then
      local remaining = math.max(0, a[b + 1] - s[3] - extra_tokens)
      if rt < 0 or remaining < rt then lt, rt = a[b + 1], remaining end
    end
    if a[b + 2] >= 0 then
      local remaining = math.max(0, a[b + 2] - s[4] - extra_requests)
      if rr < 0 or remaining < rr then lr, rr = a[b + 2], remaining end
    end
  end
  return lt, rt, lr, rr
end
local reset = (c + K) * bucket_ms - now

if refusal then
  local lt, rt, lr, rr = headers(0, 0)
  return { 0, refusal, refusal_level, refusal_retry, 0, lt, rt, reset, lr, rr, reset }
end

-- Admit: the estimate goes into every window and is held against every budget.
for i = 1, L do
  local s = subjects[i]
  window_add(s, K, c, est_tokens, 1)
  hold_move(s, 1, est_cost, est_tokens, day, month)
end
save_all(fields, subjects, marker, month, now, tz)

local expiry = now + a[5]
redis.call('SET', KEYS[2], 'H' .. struct.pack('<dddddddddddddd', expiry, now, c, day, month, est_tokens, est_cost,
  a[9], a[10], a[11], a[12], a[13], est_in, est_out) .. table.concat(fields, ',') .. '\n' .. ARGV[2], 'PX', a[5] + a[6])
redis.call('ZADD', KEYS[3], expiry, ARGV[1])

local lt, rt, lr, rr = headers(0, 0)
return { 1, expiry, est_tokens, string.format('%d', est_cost), now, lt, rt, reset, lr, rr, reset }
