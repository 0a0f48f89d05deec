-- settle.lua — commit a reserved request, or record one after the fact, and append its
-- ledger entry in the same step.
--
-- KEYS[1] organisation state hash   KEYS[2] partition hold index   KEYS[3] partition ledger stream
-- KEYS[4] the request's details (a released or expired reservation, for a late commit)
-- KEYS[5 .. 8] the request's idempotency slice buckets (client slices -2 .. +1)
-- ARGV[1] request digest   ARGV[2] hold index member   ARGV[3] hold field ('h:<request id>')
-- ARGV[4] 'commit' or 'record'   ARGV[5] request id   ARGV[6] organisation id   ARGV[7] usage format
-- ARGV[8] attribution columns (AttributionColumn), tab-separated; '' takes them from the
--         reservation, and an empty column keeps the reservation's value
-- ARGV[9 .. 8+L] subject fields of the levels ('' for a user level: the reservation's user)
-- ARGV[9+L] (last) numbers: N_*, SN_*, then L_* per level, then T_*
--
-- A live hold is settled: each window is corrected by (actual - estimate) in the bucket
-- where it was reserved, if still in the window; the estimate leaves the held budgets and
-- the actual cost is spent. Without a live hold (none, or released, or expired) the usage
-- is counted all the same, priced with the model given or the one reserved. The outcome goes
-- into the current idempotency slice (pack_outcome), the ledger entry into the stream
-- (LedgerColumn order: LC_* columns, then the attribution columns).
--
-- Replies (SettleReply in Swift):
--   {SETTLE_SETTLED or SETTLE_DUPLICATE (nothing changed), cost (nanos), price version, model,
--    hold settled (0/1), limits exceeded ('o:budget_daily,u:tpm' or ''), settled at ms,
--    input, cached input, cache write, output, reasoning, the settled hold's estimated tokens (0: none)}
--   {SETTLE_NO_MODEL, 'no_model'}: no reservation and no model to price the usage with

if not floor then bind() end
local a = numbers(ARGV[#ARGV])
local L = a[SN_LEVEL_COUNT]
local now, tz, bucket_ms, K, c, day, month = moment(a)

-- The subjects as the gateway names them now, read with the hold.
local given = {}
for i = 1, L do
  if ARGV[8 + i] ~= '' then given[#given + 1] = ARGV[8 + i] end
end
local raw = read({ 'x', ARGV[3] }, given, K, c)
local current, previous, slice_end = slices(5, now, a)

-- The reservation, live or released/expired: its numbers (H_*), subjects and columns.
local hold, known, fields, reserved_columns = nil, nil, given, nil
if raw[2] then
  hold, fields, reserved_columns = unpack_hold(raw[2])
  known = hold
else
  local outcome = outcome_of(current, previous)
  if outcome then
    local state, o, usage, version, model = unpack_outcome(outcome)
    if o then
      return { SETTLE_DUPLICATE, format('%d', o[O_COST]), version, model, state == OUTCOME_COMMITTED_HOLD and 1 or 0,
        over_list(o[O_OVER_MASK]), o[O_SETTLED_AT_SECONDS] * 1000, usage[1], usage[2], usage[3], usage[4], usage[5], 0 }
    end
    local details = redis.call('GET', KEYS[4])
    if details then known, fields, reserved_columns = unpack_hold(details) end
  end
end

local columns = ARGV[8]
if known then
  if columns == '' then
    columns = reserved_columns
  else
    local mine, theirs, merged = {}, {}, {}
    for v in string.gmatch(columns .. '\t', '([^\t]*)\t') do mine[#mine + 1] = v end
    for v in string.gmatch(reserved_columns .. '\t', '([^\t]*)\t') do theirs[#theirs + 1] = v end
    for i = 1, ATTRIBUTION_COUNT do merged[i] = (mine[i] ~= nil and mine[i] ~= '') and mine[i] or (theirs[i] or '') end
    columns = concat(merged, '\t')
  end
end
local prices
if a[SN_PRICES_GIVEN] == 1 then
  prices = { a[SN_PRICE_INPUT], a[SN_PRICE_CACHED_INPUT], a[SN_PRICE_CACHE_WRITE], a[SN_PRICE_OUTPUT], a[SN_PRICE_REASONING] }
elseif known then
  prices = { known[H_PRICE_INPUT], known[H_PRICE_CACHED_INPUT], known[H_PRICE_CACHE_WRITE], known[H_PRICE_OUTPUT], known[H_PRICE_REASONING] }
else
  return { SETTLE_NO_MODEL, 'no_model' }
end

-- Limits by subject field, as the gateway passed them now ('' matches the reservation's user).
local limits = {}
for i = 1, L do
  local field = ARGV[8 + i]
  if field == '' then field = 'u:' end
  limits[field] = SN_LEVEL_COUNT + (i - 1) * LEVEL_SIZE
end
local flags, base = {}, {}
for i = 1, #fields do
  local b = limits[fields[i]] or (sub(fields[i], 1, 2) == 'u:' and limits['u:'])
  base[i] = b
  -- A reservation's subjects keep whatever window they have; new usage follows the limits.
  flags[i] = (not known) and b and (a[b + L_TPM] >= 0 or a[b + L_RPM] >= 0) or nil
end

-- Subjects the first read did not name (the reservation's user when the commit names none).
local position = {}
for i = 1, #given do position[given[i]] = 2 + 2 * i - 1 end
local missing = {}
for i = 1, #fields do
  if not position[fields[i]] then missing[#missing + 1] = fields[i] end
end
if #missing > 0 then
  local more, n = read({}, missing, K, c), #raw
  for i = 1, #missing do
    raw[n + 2 * i - 1], raw[n + 2 * i] = more[2 * i - 1], more[2 * i]
    position[missing[i]] = n + 2 * i - 1
  end
end
local subjects = {}
for i = 1, #fields do
  local p = position[fields[i]]
  subjects[i] = subject(fields[i], raw[p] or nil, raw[p + 1] or false, flags[i], K, c, day, month)
end

local usage = { a[SN_USAGE_INPUT], a[SN_USAGE_CACHED_INPUT], a[SN_USAGE_CACHE_WRITE], a[SN_USAGE_OUTPUT], a[SN_USAGE_REASONING] }
local actual = usage[1] + usage[2] + usage[3] + usage[4] + usage[5]
local amount = cost(usage, prices)
local cu, cn = madd(0, 0, 0, amount)

-- The reservation's ring groups, when its bucket's group is not the current one: one HMGET.
if hold and actual ~= hold[H_ESTIMATED_TOKENS] then prefetch(subjects, K, hold[H_BUCKET]) end

-- Which limits each subject is over now (record says so; commit reports it too).
local over, over_mask = {}, 0
local function exceeded(field, k)
  local letter = sub(field, 1, 1)
  over[#over + 1] = letter .. ':' .. LIMIT_KINDS[k]
  over_mask = over_mask + over_bit(letter, k)
end
for i = 1, #fields do
  local s = subjects[i]
  if hold then
    window_add(s, K, hold[H_BUCKET], actual - hold[H_ESTIMATED_TOKENS], 0)
    hold_move(s, -1, hold[H_ESTIMATED_COST], hold[H_ESTIMATED_TOKENS], hold[H_DAY], hold[H_MONTH])
  else
    window_add(s, K, c, actual, 1)
  end
  s[S_DAY_SPENT_U], s[S_DAY_SPENT_N] = madd(s[S_DAY_SPENT_U], s[S_DAY_SPENT_N], cu, cn)
  s[S_MONTH_SPENT_U], s[S_MONTH_SPENT_N] = madd(s[S_MONTH_SPENT_U], s[S_MONTH_SPENT_N], cu, cn)
  s[S_DAY_TOKENS] = s[S_DAY_TOKENS] + actual
  s[S_MONTH_TOKENS] = s[S_MONTH_TOKENS] + actual
  local b = base[i]
  if b then
    local has_window, field = s[S_WINDOW] > 0, fields[i]
    if a[b + L_TPM] >= 0 and has_window and s[S_WINDOW_TOKENS] > a[b + L_TPM] then exceeded(field, 1) end
    if a[b + L_RPM] >= 0 and has_window and s[S_WINDOW_REQUESTS] > a[b + L_RPM] then exceeded(field, 2) end
    if a[b + L_DAY_BUDGET_UNITS] >= 0 then
      local u, n = madd(s[S_DAY_SPENT_U], s[S_DAY_SPENT_N], s[S_DAY_HELD_U], s[S_DAY_HELD_N])
      if not mle(u, n, a[b + L_DAY_BUDGET_UNITS], a[b + L_DAY_BUDGET_NANOS]) then exceeded(field, 3) end
    end
    if a[b + L_MONTH_BUDGET_UNITS] >= 0 then
      local u, n = madd(s[S_MONTH_SPENT_U], s[S_MONTH_SPENT_N], s[S_MONTH_HELD_U], s[S_MONTH_HELD_N])
      if not mle(u, n, a[b + L_MONTH_BUDGET_UNITS], a[b + L_MONTH_BUDGET_NANOS]) then exceeded(field, 4) end
    end
    if a[b + L_DAY_TOKENS] >= 0 and s[S_DAY_TOKENS] > a[b + L_DAY_TOKENS] then exceeded(field, 5) end
    if a[b + L_MONTH_TOKENS] >= 0 and s[S_MONTH_TOKENS] > a[b + L_MONTH_TOKENS] then exceeded(field, 6) end
  end
end
save_all(subjects, raw[1], month, now, tz)
over = concat(over, ',')

local model, version = column(columns, A_MODEL), column(columns, A_PRICE_VERSION)
local amount_text = format('%d', amount)

keep_outcome(current, slice_end, pack_outcome(hold and OUTCOME_COMMITTED_HOLD or OUTCOME_COMMITTED, amount, now, over_mask, usage, version, model))
if hold then
  redis.call('HDEL', KEYS[1], ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
local line = {}
line[LC_FORMAT], line[LC_KIND], line[LC_REQUEST_ID], line[LC_ORGANIZATION] = LEDGER_FORMAT, ARGV[4], ARGV[5], ARGV[6]
line[LC_AT], line[LC_RESERVED_AT] = format('%d', now), format('%d', known and known[H_RESERVED_AT] or 0)
line[LC_ESTIMATED_TOKENS] = format('%d', known and known[H_ESTIMATED_TOKENS] or 0)
line[LC_INPUT], line[LC_CACHED_INPUT], line[LC_CACHE_WRITE], line[LC_OUTPUT], line[LC_REASONING] = usage[1], usage[2], usage[3], usage[4], usage[5]
line[LC_COST], line[LC_LATENCY], line[LC_CACHE_HIT] = amount_text, a[SN_LATENCY_MS], a[SN_CACHE_HIT]
line[LC_USAGE_FORMAT], line[LC_OVER_LIMITS] = ARGV[7], over
line[LEDGER_FIXED_COLUMNS + 1] = columns
redis.call('XADD', KEYS[3], '*', 'e', concat(line, '\t'))

return { SETTLE_SETTLED, amount_text, version, model, hold and 1 or 0, over, now, usage[1], usage[2], usage[3], usage[4], usage[5],
  hold and hold[H_ESTIMATED_TOKENS] or 0 }
