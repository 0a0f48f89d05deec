-- reserve.lua — admit a request against every level's limits, all or nothing.
--
-- KEYS[1] organisation state hash   KEYS[2] partition hold index
-- KEYS[3 .. 6] the request's idempotency slice buckets (client slices -2 .. +1, see slices())
-- ARGV[1] request digest (its field in an idempotency slice)
-- ARGV[2] hold index member (org:request_id)   ARGV[3] hold field ('h:<request id>')
-- ARGV[4] attribution columns (AttributionColumn), tab-separated, kept in the hold for the
--         ledger entry of its commit
-- ARGV[5 .. 4+L] subject fields of the levels
-- ARGV[5+L] (last) numbers: N_*, RN_* (prices in nano-units per 1M tokens), then L_* per level, then T_*
--
-- Replies (ReserveReply in Swift):
--   {RESERVE_ALLOWED, hold expiry ms, estimated tokens, estimated cost (nanos), now ms,
--    tokens limit, tokens remaining, tokens reset ms, requests limit, requests remaining, requests reset ms}
--   {RESERVE_LIMITED, limit (a LIMIT_*), level (1-based), retry after ms (-1: never fits),
--    too large (0/1), then the six header values}
--   {RESERVE_DUPLICATE, state ('H' live, or an OUTCOME_* letter), hold expiry, estimated tokens,
--    estimated cost, reserved at}: the request id was seen before; nothing changes.
-- A refusal writes nothing.

if not floor then bind() end
local a = numbers(ARGV[#ARGV])
local L = a[RN_LEVEL_COUNT]
local now, tz, bucket_ms, K, c, day, month = moment(a)

local fields, flags = {}, {}
for i = 1, L do
  fields[i] = ARGV[4 + i]
  local b = RN_LEVEL_COUNT + (i - 1) * LEVEL_SIZE
  flags[i] = a[b + L_TPM] >= 0 or a[b + L_RPM] >= 0
end
local raw = read({ 'x', ARGV[3] }, fields, K, c)
if raw[2] then
  local h = { sunpack(HOLD_FORMAT, raw[2]) }
  return { RESERVE_DUPLICATE, 'H', h[H_EXPIRY], h[H_ESTIMATED_TOKENS], format('%d', h[H_ESTIMATED_COST]), h[H_RESERVED_AT] }
end
local current, previous = slices(3, now, a)
local outcome = outcome_of(current, previous)
if outcome then return { RESERVE_DUPLICATE, sub(outcome, 1, 1), 0, 0, '0', 0 } end
local subjects = subjects_of(raw, 3, fields, flags, K, c, day, month)

local est_in, est_out = a[RN_ESTIMATED_INPUT], a[RN_ESTIMATED_OUTPUT]
local est_tokens = est_in + est_out
-- Conservative: all input uncached, all output at the dearer of output and reasoning
-- (TokenPrices.estimatedCost in Swift).
local est_cost = cost({ est_in, 0, 0, est_out, 0 }, { a[RN_PRICE_INPUT], 0, 0, max(a[RN_PRICE_OUTPUT], a[RN_PRICE_REASONING]), 0 })
local cu, cn = madd(0, 0, 0, est_cost)

-- Milliseconds until `needed` tokens (which = 1) or requests (2) of subject s leave the window.
local function window_retry(s, needed, which)
  local freed = 0
  for j = s[S_NEWEST] - K + 1, s[S_NEWEST] do
    local t, r = slot(s, K, j)
    freed = freed + (which == 1 and t or r)
    if freed >= needed then return (j + K) * bucket_ms - now end
  end
  return (s[S_NEWEST] + K) * bucket_ms - now
end

-- Pass 1: a request that can never fit is too large, and is not told to retry.
for i = 1, L do
  local b = RN_LEVEL_COUNT + (i - 1) * LEVEL_SIZE
  local what = nil
  if a[b + L_TPM] >= 0 and est_tokens > a[b + L_TPM] then what = LIMIT_TPM
  elseif a[b + L_RPM] >= 0 and a[b + L_RPM] < 1 then what = LIMIT_RPM
  elseif a[b + L_DAY_BUDGET_UNITS] >= 0 and not mle(cu, cn, a[b + L_DAY_BUDGET_UNITS], a[b + L_DAY_BUDGET_NANOS]) then what = LIMIT_BUDGET_DAILY
  elseif a[b + L_MONTH_BUDGET_UNITS] >= 0 and not mle(cu, cn, a[b + L_MONTH_BUDGET_UNITS], a[b + L_MONTH_BUDGET_NANOS]) then what = LIMIT_BUDGET_MONTHLY
  elseif a[b + L_DAY_TOKENS] >= 0 and est_tokens > a[b + L_DAY_TOKENS] then what = LIMIT_TOKENS_DAILY
  elseif a[b + L_MONTH_TOKENS] >= 0 and est_tokens > a[b + L_MONTH_TOKENS] then what = LIMIT_TOKENS_MONTHLY
  end
  if what then return { RESERVE_LIMITED, what, i, -1, 1, -1, -1, 0, -1, -1, 0 } end
end

-- Pass 2: every limit; on refusal, report the one that frees up last.
local day_end, month_left = (day + 1) * DAY_MS - tz - now, nil
local refusal, refusal_level, refusal_retry = nil, 0, -2
for i = 1, L do
  local b, s = RN_LEVEL_COUNT + (i - 1) * LEVEL_SIZE, subjects[i]
  local what, retry = nil, -2
  if a[b + L_TPM] >= 0 and s[S_WINDOW_TOKENS] + est_tokens > a[b + L_TPM] then
    local r = window_retry(s, s[S_WINDOW_TOKENS] + est_tokens - a[b + L_TPM], 1)
    if r > retry then what, retry = LIMIT_TPM, r end
  end
  if a[b + L_RPM] >= 0 and s[S_WINDOW_REQUESTS] + 1 > a[b + L_RPM] then
    local r = window_retry(s, s[S_WINDOW_REQUESTS] + 1 - a[b + L_RPM], 2)
    if r > retry then what, retry = LIMIT_RPM, r end
  end
  if a[b + L_DAY_BUDGET_UNITS] >= 0 then
    local u, n = madd(s[S_DAY_SPENT_U], s[S_DAY_SPENT_N], s[S_DAY_HELD_U], s[S_DAY_HELD_N])
    u, n = madd(u, n, cu, cn)
    if not mle(u, n, a[b + L_DAY_BUDGET_UNITS], a[b + L_DAY_BUDGET_NANOS]) and day_end > retry then what, retry = LIMIT_BUDGET_DAILY, day_end end
  end
  if a[b + L_MONTH_BUDGET_UNITS] >= 0 then
    local u, n = madd(s[S_MONTH_SPENT_U], s[S_MONTH_SPENT_N], s[S_MONTH_HELD_U], s[S_MONTH_HELD_N])
    u, n = madd(u, n, cu, cn)
    month_left = month_left or month_end(month, tz) - now
    if not mle(u, n, a[b + L_MONTH_BUDGET_UNITS], a[b + L_MONTH_BUDGET_NANOS]) and month_left > retry then what, retry = LIMIT_BUDGET_MONTHLY, month_left end
  end
  if a[b + L_DAY_TOKENS] >= 0 and s[S_DAY_TOKENS] + est_tokens > a[b + L_DAY_TOKENS] and day_end > retry then what, retry = LIMIT_TOKENS_DAILY, day_end end
  if a[b + L_MONTH_TOKENS] >= 0 and s[S_MONTH_TOKENS] + est_tokens > a[b + L_MONTH_TOKENS] then
    month_left = month_left or month_end(month, tz) - now
    if month_left > retry then what, retry = LIMIT_TOKENS_MONTHLY, month_left end
  end
  if what and retry > refusal_retry then refusal, refusal_level, refusal_retry = what, i, retry end
end

-- Rate-limit headers: the level with the least remaining, for tokens and for requests.
local function headers()
  local lt, rt, lr, rr = -1, -1, -1, -1
  for i = 1, L do
    local b, s = RN_LEVEL_COUNT + (i - 1) * LEVEL_SIZE, subjects[i]
    if a[b + L_TPM] >= 0 then
      local remaining = max(0, a[b + L_TPM] - s[S_WINDOW_TOKENS])
      if rt < 0 or remaining < rt then lt, rt = a[b + L_TPM], remaining end
    end
    if a[b + L_RPM] >= 0 then
      local remaining = max(0, a[b + L_RPM] - s[S_WINDOW_REQUESTS])
      if rr < 0 or remaining < rr then lr, rr = a[b + L_RPM], remaining end
    end
  end
  return lt, rt, lr, rr
end
local reset = (c + K) * bucket_ms - now

if refusal then
  local lt, rt, lr, rr = headers()
  return { RESERVE_LIMITED, refusal, refusal_level, refusal_retry, 0, lt, rt, reset, lr, rr, reset }
end

-- Admit: the estimate goes into every window and is held against every budget; the hold joins
-- the same HSET.
for i = 1, L do
  local s = subjects[i]
  window_add(s, K, c, est_tokens, 1)
  hold_move(s, 1, est_cost, est_tokens, day, month)
end
local expiry = now + a[RN_HOLD_MS]
save_all(subjects, raw[1], month, now, tz, { ARGV[3], spack(HOLD_FORMAT, expiry, now, c, day, month, est_tokens, est_cost,
  a[RN_PRICE_INPUT], a[RN_PRICE_CACHED_INPUT], a[RN_PRICE_CACHE_WRITE], a[RN_PRICE_OUTPUT], a[RN_PRICE_REASONING])
  .. concat(fields, ',') .. '\n' .. ARGV[4] })
redis.call('ZADD', KEYS[2], expiry, ARGV[2])

local lt, rt, lr, rr = headers()
return { RESERVE_ALLOWED, expiry, est_tokens, format('%d', est_cost), now, lt, rt, reset, lr, rr, reset }
