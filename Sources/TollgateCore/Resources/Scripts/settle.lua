-- settle.lua — commit a reserved request, or record one after the fact; append its ledger entry.
--
-- KEYS[1] organisation state hash   KEYS[2] request record
-- KEYS[3] partition hold index      KEYS[4] partition ledger stream
-- ARGV[1]  hold index member (org:request_id)
-- ARGV[2]  clock offset ms          ARGV[3]  timezone offset ms
-- ARGV[4]  bucket ms                ARGV[5]  buckets per window (K)
-- ARGV[6]  idempotency retention ms ARGV[7]  kind: 'commit' or 'record'
-- ARGV[8..12] actual tokens: input, cached input, cache write, output, reasoning
-- ARGV[13] latency ms ('' if unknown)   ARGV[14] cache hit ('', '0', '1')
-- ARGV[15] model ('' = the reserved model)  ARGV[16] provider  ARGV[17] price version
-- ARGV[18..22] prices (nano-units per 1M tokens), used when ARGV[15] is set
-- ARGV[23] user  ARGV[24] feature  ARGV[25] session ('' = as reserved)
-- ARGV[26] tier  ARGV[27] key id  ARGV[28] workspace id  ARGV[29] organisation id
-- ARGV[30] request id  ARGV[31] usage format
-- ARGV[32] level count, then 8 per level (see read_levels); a level of kind 'u' with an
--          empty field takes the user recorded in the hold.
--
-- The hold, when live, is settled: each window is corrected by (actual - estimate) in the
-- bucket where it was reserved, if still in the window; budgets move the estimate from held
-- to the actual cost spent. Without a live hold (never reserved, released or expired), the
-- usage is counted all the same. Either way one ledger entry is appended, in this script.
--
-- Replies:
--   {1 (new) or 2 (already settled: nothing changed), cost (nanos), price version, model,
--    hold settled (0/1), limits now exceeded ('k:tpm,o:budget_daily' or ''), settled at ms,
--    input, cached input, cache write, output, reasoning}
--   {0, 'no_model'}: nothing to price with (no live hold and no model given)

local existing = redis.call('GET', KEYS[2])
-- `known`: a reservation's details (live 'H', or released 'R' / expired 'X');
-- `hold`: only a live one, which this settles.
local known, hold = nil, nil
if existing then
  local h = cmsgpack.unpack(existing)
  if h[1] == 'C' then
    return { 2, h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12] }
  end
  known = h
  if h[1] == 'H' then hold = h end
end

local model, provider, version, prices = ARGV[15], ARGV[16], ARGV[17], nil
if model ~= '' then
  prices = { tonumber(ARGV[18]), tonumber(ARGV[19]), tonumber(ARGV[20]), tonumber(ARGV[21]), tonumber(ARGV[22]) }
elseif known then
  model, provider, version, prices = known[10], known[11], known[12], known[13]
else
  return { 0, 'no_model' }
end
local user, feature, session = ARGV[23], ARGV[24], ARGV[25]
if known then
  if user == '' then user = known[14] end
  if feature == '' then feature = known[15] end
  if session == '' then session = known[16] end
end

local now = now_ms(tonumber(ARGV[2]))
local tz = tonumber(ARGV[3])
local bucket_ms = tonumber(ARGV[4])
local K = tonumber(ARGV[5])
local tokens = { tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]) }
local actual = tokens[1] + tokens[2] + tokens[3] + tokens[4] + tokens[5]
local cost = cost_of(tokens, prices)
local cost_u, cost_n = m_norm(0, cost)

local c = math.floor(now / bucket_ms)
local day, month = periods(now, tz)
local levels = read_levels(32)
if known then
  levels = hold_levels(known[9], levels)
else
  local kept = {}
  for _, l in ipairs(levels) do
    if l.field ~= '' then kept[#kept + 1] = l end
  end
  levels = kept
end
local marker = load_levels(levels, K, c, day, month)

for i = 1, #levels do
  local s = levels[i].s
  if hold then
    local est_tokens, est_cost = hold[7], hold[8]
    window_add(s, K, hold[4], actual - est_tokens, 0)
    local eu, en = m_norm(0, -est_cost)
    if hold[5] == day then
      s[8], s[9] = m_floor0(m_add(s[8], s[9], eu, en))
      s[11] = math.max(0, s[11] - est_tokens)
    end
    if hold[6] == month then
      s[15], s[16] = m_floor0(m_add(s[15], s[16], eu, en))
      s[18] = math.max(0, s[18] - est_tokens)
    end
  else
    window_add(s, K, c, actual, 1)
  end
  s[6], s[7] = m_add(s[6], s[7], cost_u, cost_n)
  s[13], s[14] = m_add(s[13], s[14], cost_u, cost_n)
  s[10] = s[10] + actual
  s[17] = s[17] + actual
end
save_levels(levels, marker, month, now, tz)

local over = {}
for i = 1, #levels do
  for _, what in ipairs(over_limits(levels[i])) do
    over[#over + 1] = levels[i].kind .. ':' .. what
  end
end
over = table.concat(over, ',')

local cost_text = string.format('%d', cost)
local settled = hold and 1 or 0
redis.call('SET', KEYS[2], cmsgpack.pack({ 'C', cost_text, version, model, settled, over, now,
  tokens[1], tokens[2], tokens[3], tokens[4], tokens[5] }), 'PX', tonumber(ARGV[6]))
if hold then redis.call('ZREM', KEYS[3], ARGV[1]) end

redis.call('XADD', KEYS[4], '*',
  'kind', ARGV[7], 'rid', ARGV[30], 'org', ARGV[29], 'ws', ARGV[28], 'key', ARGV[27],
  'user', user, 'feature', feature, 'session', session, 'tier', ARGV[26],
  'model', model, 'provider', provider, 'format', ARGV[31], 'pv', version,
  'in', tokens[1], 'cin', tokens[2], 'cw', tokens[3], 'out', tokens[4], 'rsn', tokens[5],
  'cost', cost_text, 'est', known and known[7] or 0, 'reserved', known and known[3] or 0, 'at', now,
  'latency', ARGV[13], 'hit', ARGV[14], 'over', over)

return { 1, cost_text, version, model, settled, over, now, tokens[1], tokens[2], tokens[3], tokens[4], tokens[5] }
