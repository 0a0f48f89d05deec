-- settle.lua — commit a reserved request, or record one after the fact, and append its
-- ledger entry in the same step.
--
-- KEYS[1] organisation state hash   KEYS[2] request record
-- KEYS[3] partition hold index      KEYS[4] partition ledger stream
-- ARGV[1] hold index member   ARGV[2] 'commit' or 'record'   ARGV[3] request id
-- ARGV[4] organisation id     ARGV[5] usage format
-- ARGV[6] model, provider, price version, user, feature, session, tier, key, workspace,
--         experiment, tab-separated; '' takes them from the reservation, and an empty column keeps the
--         reservation's value
-- ARGV[7 .. 6+L] subject fields of the levels ('' for a user level: the reservation's user)
-- ARGV[7+L] (last) numbers (doubles): clock offset ms, timezone offset ms, bucket ms, K,
--         idempotency retention ms, 5 actual token counts (input, cached input, cache write,
--         output, reasoning), latency ms (-1: unknown), cache hit (-1 unknown, 0, 1),
--         prices given (0/1), 5 prices (nano-units per 1M tokens), level count L, then
--         8 limits per level as in reserve.lua
--
-- A live hold is settled: each window is corrected by (actual - estimate) in the bucket
-- where it was reserved, if still in the window; the estimate leaves the held budgets and
-- the actual cost is spent. Without a live hold (none, or released, or expired) the usage
-- is counted all the same, priced with the model given or the one reserved.
--
-- Ledger entry: XADD KEYS[4] * e <tab-separated>: 1 (format), kind, request id, organisation,
-- at ms, reserved at ms (0: none), estimated tokens, input, cached input, cache write, output,
-- reasoning, cost (nanos), latency ms (-1), cache hit (-1/0/1), usage format, limits now
-- exceeded, then the ten columns of ARGV[6] (a reservation made before experiments
-- existed has nine; its experiment is empty).
--
-- Replies:
--   {1 new, or 2 already settled (nothing changed), cost (nanos), price version, model,
--    hold settled (0/1), limits exceeded ('o:budget_daily,u:tpm' or ''), settled at ms,
--    input, cached input, cache write, output, reasoning, and for a new settlement of a live
--    hold its estimated tokens (0 otherwise)}
--   {0, 'no_model'}: no reservation and no model to price the usage with

local existing = redis.call('GET', KEYS[2])
local state = existing and string.sub(existing, 1, 1)
if state == 'C' then
  local cost, t1, t2, t3, t4, t5, settled, at, pos = struct.unpack('<dddddddd', existing, 2)
  local rest = string.sub(existing, pos)
  local nl = string.find(rest, '\n', 1, true)
  local tab = string.find(rest, '\t', nl + 1, true)
  return { 2, string.format('%d', cost), string.sub(rest, nl + 1, tab - 1), string.sub(rest, tab + 1), settled,
    string.sub(rest, 1, nl - 1), at, t1, t2, t3, t4, t5 }
end

local a = numbers(ARGV[#ARGV], 19, 8)
local L = a[19]

-- The reservation, live ('H') or not ('R', 'X'): its numbers, subjects and strings.
local hold, known, columns = nil, nil, ARGV[6]
local fields = {}
for i = 1, L do
  if ARGV[6 + i] ~= '' then fields[#fields + 1] = ARGV[6 + i] end
end
if existing then
  known = { struct.unpack('<dddddddddddddd', existing, 2) }
  local rest = string.sub(existing, known[15])
  local nl = string.find(rest, '\n', 1, true)
  fields = split_fields(string.sub(rest, 1, nl - 1))
  local reserved_columns = string.sub(rest, nl + 1)
  if columns == '' then
    columns = reserved_columns
  else
    local mine, theirs, merged = {}, {}, {}
    for v in string.gmatch(columns .. '\t', '([^\t]*)\t') do mine[#mine + 1] = v end
    for v in string.gmatch(reserved_columns .. '\t', '([^\t]*)\t') do theirs[#theirs + 1] = v end
    for i = 1, 10 do merged[i] = (mine[i] ~= nil and mine[i] ~= '') and mine[i] or (theirs[i] or '') end
    columns = table.concat(merged, '\t')
  end
  if state == 'H' then hold = known end
end
local prices
if a[13] == 1 then
  prices = { a[14], a[15], a[16], a[17], a[18] }
elseif known then
  prices = { known[8], known[9], known[10], known[11], known[12] }
else
  return { 0, 'no_model' }
end

-- Limits by subject field, as the gateway passed them now ('' matches the reservation's user).
local limits = {}
for i = 1, L do
  local field = ARGV[6 + i]
  if field == '' then field = 'u:' end
  limits[field] = 14 + 5 + (i - 1) * 8
end
local windowed, base = {}, {}
for i = 1, #fields do
  local b = limits[fields[i]] or (string.sub(fields[i], 1, 2) == 'u:' and limits['u:'])
  base[i] = b
  -- A reservation's subjects keep whatever window they have; new usage follows the limits.
  windowed[i] = (not known) and b and (a[b + 1] >= 0 or a[b + 2] >= 0) or nil
end

local now = now_ms(a[1])
local tz, bucket_ms, K = a[2], a[3], a[4]
local t1, t2, t3, t4, t5 = a[6], a[7], a[8], a[9], a[10]
local actual = t1 + t2 + t3 + t4 + t5
local whole, fraction = 0, 0
for i, t in ipairs({ t1, t2, t3, t4, t5 }) do
  if t > 0 then
    local p = prices[i]
    local ai = math.floor(p / 1000000)
    whole = whole + t * ai
    fraction = fraction + t * (p - ai * 1000000)
  end
end
local cost = whole + math.floor((fraction + 500000) / 1000000)
local cu, cn = madd(0, 0, 0, cost)

local c = math.floor(now / bucket_ms)
local day, month = periods(now, tz)
local subjects, marker = load_all(fields, windowed, K, c, day, month)
local over = {}
for i = 1, #fields do
  local s = subjects[i]
  if hold then
    window_add(s, K, hold[3], actual - hold[6], 0)
    hold_move(s, -1, hold[7], hold[6], hold[4], hold[5])
  else
    window_add(s, K, c, actual, 1)
  end
  s[6], s[7] = madd(s[6], s[7], cu, cn)
  s[12], s[13] = madd(s[12], s[13], cu, cn)
  s[10] = s[10] + actual
  s[16] = s[16] + actual
  -- Which limits this subject is over now (record says so; commit reports it too).
  local b = base[i]
  if b then
    local kind = string.sub(fields[i], 1, 1)
    if a[b + 1] >= 0 and has_ring(s) and s[3] > a[b + 1] then over[#over + 1] = kind .. ':tpm' end
    if a[b + 2] >= 0 and has_ring(s) and s[4] > a[b + 2] then over[#over + 1] = kind .. ':rpm' end
    if a[b + 3] >= 0 then
      local u, n = madd(s[6], s[7], s[8], s[9])
      if not mle(u, n, a[b + 3], a[b + 4]) then over[#over + 1] = kind .. ':budget_daily' end
    end
    if a[b + 5] >= 0 then
      local u, n = madd(s[12], s[13], s[14], s[15])
      if not mle(u, n, a[b + 5], a[b + 6]) then over[#over + 1] = kind .. ':budget_monthly' end
    end
    if a[b + 7] >= 0 and s[10] > a[b + 7] then over[#over + 1] = kind .. ':tokens_daily' end
    if a[b + 8] >= 0 and s[16] > a[b + 8] then over[#over + 1] = kind .. ':tokens_monthly' end
  end
end
save_all(fields, subjects, marker, month, now, tz)
over = table.concat(over, ',')

local model_end = string.find(columns, '\t', 1, true) or (#columns + 1)
local provider_end = string.find(columns, '\t', model_end + 1, true) or (#columns + 1)
local version_end = string.find(columns, '\t', provider_end + 1, true) or (#columns + 1)
local model = string.sub(columns, 1, model_end - 1)
local version = string.sub(columns, provider_end + 1, version_end - 1)
local settled = hold and 1 or 0
local cost_text = string.format('%d', cost)

redis.call('SET', KEYS[2], 'C' .. struct.pack('<dddddddd', cost, t1, t2, t3, t4, t5, settled, now) .. over .. '\n' .. version .. '\t' .. model,
  'PX', a[5])
if hold then redis.call('ZREM', KEYS[3], ARGV[1]) end
redis.call('XADD', KEYS[4], '*', 'e', table.concat({ '1', ARGV[2], ARGV[3], ARGV[4], string.format('%d', now),
  string.format('%d', known and known[2] or 0), string.format('%d', known and known[6] or 0),
  t1, t2, t3, t4, t5, cost_text, a[11], a[12], ARGV[5], over, columns }, '\t'))

return { 1, cost_text, version, model, settled, over, now, t1, t2, t3, t4, t5, hold and hold[6] or 0 }
