-- common.lua — the prelude every Tollgate script starts with (the engine prepends it).
--
-- Subject records. An organisation's live counters are one hash; each field is one
-- subject ('o', 'w:<id>', 'k:<id>', 'u:<id>') holding a packed record:
--   header: 18 little-endian doubles
--     1 K (ring size)           2 newest bucket index     3 window tokens   4 window requests
--     5 day number              6-7 day spent (units, nanos)   8-9 day held (units, nanos)
--     10 day tokens used        11 day tokens held
--     12 month number           13-14 month spent         15-16 month held
--     17 month tokens used      18 month tokens held
--   ring (only for subjects with a TPM or RPM limit): K slots of (double tokens, uint32 requests)
-- The window counts every bucket that overlaps the last window: K = ceil(window/bucket) + 1.
-- Field 'x' of the hash holds the month whose end the hash's TTL was last set to.
--
-- Money. Amounts cross the script boundary as decimal strings of nano-units (10^-9 of the
-- currency). Counters are kept as (units, nanos) pairs with 0 <= nanos < 1e9, so sums stay
-- exact far beyond 2^53 nanos. A single request's cost is below 2^53 nanos by construction.
--
-- Time. Milliseconds from Redis TIME plus a clock offset argument (0 in production; tests
-- use it to cross day and month boundaries). Days and months are calendar periods in the
-- organisation's timezone, passed as its UTC offset in milliseconds.

local NANOS = 1000000000
local DAY_MS = 86400000
local HEADER = '<dddddddddddddddddd'
local HEADER_SIZE = 144
local SLOT = '<dI4'
local SLOT_SIZE = 12

local function now_ms(offset)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + offset
end

-- Money ---------------------------------------------------------------------------------

local function m_norm(u, n)
  local carry = math.floor(n / NANOS)
  return u + carry, n - carry * NANOS
end

-- Parses a decimal string of nanos ('' means "no limit" and gives nil).
local function m_parse(s)
  if s == nil or s == '' then return nil, nil end
  local negative = string.sub(s, 1, 1) == '-'
  if negative then s = string.sub(s, 2) end
  local len = string.len(s)
  local u, n = 0, tonumber(s)
  if len > 9 then
    u = tonumber(string.sub(s, 1, len - 9))
    n = tonumber(string.sub(s, len - 8))
  end
  if negative then return m_norm(-u, -n) end
  return u, n
end

local function m_str(u, n)
  if u < 0 then
    if n == 0 then return string.format('-%d000000000', -u) end
    return string.format('-%d%09d', -u - 1, NANOS - n)
  end
  if u == 0 then return string.format('%d', n) end
  return string.format('%d%09d', u, n)
end

local function m_add(au, an, bu, bn) return m_norm(au + bu, an + bn) end

local function m_le(au, an, bu, bn) return au < bu or (au == bu and an <= bn) end

-- Clamps a counter at zero (refunds never take it below).
local function m_floor0(u, n)
  if u < 0 then return 0, 0 end
  return u, n
end

-- The cost of tokens (5 classes) at prices (nano-units per 1M tokens, 5 classes):
-- sum of tokens * floor(price / 1e6), plus the rounded sum of tokens * (price mod 1e6) / 1e6.
-- Rounded once per request, half up. Exact: every intermediate stays below 2^53.
local function cost_of(tokens, prices)
  local whole, fraction = 0, 0
  for i = 1, 5 do
    local t = tokens[i]
    if t > 0 then
      local p = prices[i]
      local a = math.floor(p / 1000000)
      whole = whole + t * a
      fraction = fraction + t * (p - a * 1000000)
    end
  end
  return whole + math.floor((fraction + 500000) / 1000000)
end

-- Calendar (Howard Hinnant's civil-from-days) ---------------------------------------------

local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- Local day number and month number (year * 12 + month - 1) at `now`.
local function periods(now, tz)
  local day = math.floor((now + tz) / DAY_MS)
  local y, m = civil_from_days(day)
  return day, y * 12 + m - 1
end

local function day_end(day, tz) return (day + 1) * DAY_MS - tz end

local function month_end(month, tz)
  local following = month + 1
  local y = math.floor(following / 12)
  return days_from_civil(y, following - y * 12 + 1, 1) * DAY_MS - tz
end

-- Subject records ---------------------------------------------------------------------------

local function get_slot(ring, slot)
  local t, r = struct.unpack(SLOT, ring, slot * SLOT_SIZE + 1)
  return t, r
end

local function set_slot(ring, slot, t, r)
  local offset = slot * SLOT_SIZE
  return string.sub(ring, 1, offset) .. struct.pack(SLOT, t, r) .. string.sub(ring, offset + SLOT_SIZE + 1)
end

-- Loads a subject record, moves its window to bucket c and its periods to (day, month).
-- `windowed`: true keeps (or starts) a ring, for subjects with a TPM or RPM limit; false
-- drops it; nil keeps whatever the record has (refunds never start a window).
local function load(raw, windowed, K, c, day, month)
  local s
  if raw and string.len(raw) >= HEADER_SIZE then
    s = { struct.unpack(HEADER, raw) }
    s[19] = nil
    s.ring = string.sub(raw, HEADER_SIZE + 1)
  else
    s = { K, c, 0, 0, day, 0, 0, 0, 0, 0, 0, month, 0, 0, 0, 0, 0, 0 }
    s.ring = ''
  end
  local has_ring = s[1] == K and string.len(s.ring) == K * SLOT_SIZE
  if windowed == false or (windowed == nil and not has_ring) then
    s.ring = ''
    s[1], s[3], s[4] = K, 0, 0
  elseif not has_ring then
    s.ring = string.rep('\0', K * SLOT_SIZE)
    s[1], s[2], s[3], s[4] = K, c, 0, 0
  elseif c > s[2] then
    if c - s[2] >= K then
      s.ring = string.rep('\0', K * SLOT_SIZE)
      s[3], s[4] = 0, 0
    else
      for i = s[2] + 1, c do
        local slot = i % K
        local t, r = get_slot(s.ring, slot)
        if t ~= 0 or r ~= 0 then
          s[3], s[4] = s[3] - t, s[4] - r
          s.ring = set_slot(s.ring, slot, 0, 0)
        end
      end
    end
  end
  if c > s[2] then s[2] = c end
  if s[5] ~= day then
    s[5], s[6], s[7], s[8], s[9], s[10], s[11] = day, 0, 0, 0, 0, 0, 0
  end
  if s[12] ~= month then
    s[12], s[13], s[14], s[15], s[16], s[17], s[18] = month, 0, 0, 0, 0, 0, 0
  end
  return s
end

local function save(s)
  return struct.pack(HEADER, s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11], s[12],
    s[13], s[14], s[15], s[16], s[17], s[18]) .. s.ring
end

-- Adds tokens and requests to bucket `bucket` if it is still in the window (clamped at 0).
local function window_add(s, K, bucket, tokens, requests)
  if s.ring == '' or bucket <= s[2] - K or bucket > s[2] then return end
  local slot = bucket % K
  local t, r = get_slot(s.ring, slot)
  local nt, nr = t + tokens, r + requests
  if nt < 0 then nt = 0 end
  if nr < 0 then nr = 0 end
  s[3], s[4] = s[3] + nt - t, s[4] + nr - r
  s.ring = set_slot(s.ring, slot, nt, nr)
end

-- Milliseconds until `needed` tokens (or requests, index 2) have left the window.
local function window_retry(s, K, bucket_ms, now, needed, index)
  local freed = 0
  for i = s[2] - K + 1, s[2] do
    local t, r = get_slot(s.ring, i % K)
    freed = freed + (index == 1 and t or r)
    if freed >= needed then return (i + K) * bucket_ms - now end
  end
  return (s[2] + K) * bucket_ms - now
end

-- Milliseconds until the window is empty again (the newest non-empty bucket leaves it).
local function window_reset(s, K, bucket_ms, now)
  if s.ring == '' then return 0 end
  for i = s[2], s[2] - K + 1, -1 do
    local t, r = get_slot(s.ring, i % K)
    if t > 0 or r > 0 then return (i + K) * bucket_ms - now end
  end
  return 0
end

-- Holds a cost and tokens against a subject's budgets (negative amounts release them).
local function hold_add(s, cost_u, cost_n, tokens)
  s[8], s[9] = m_floor0(m_add(s[8], s[9], cost_u, cost_n))
  s[15], s[16] = m_floor0(m_add(s[15], s[16], cost_u, cost_n))
  s[11] = math.max(0, s[11] + tokens)
  s[18] = math.max(0, s[18] + tokens)
end

-- Reads levels from ARGV starting at `first`: count, then 8 values per level:
-- kind, field, tpm, rpm, daily budget, monthly budget, daily tokens, monthly tokens.
local function read_levels(first)
  local count = tonumber(ARGV[first])
  local levels = {}
  for i = 1, count do
    local b = first + (i - 1) * 8
    local level = {
      kind = ARGV[b + 1], field = ARGV[b + 2],
      tpm = tonumber(ARGV[b + 3]), rpm = tonumber(ARGV[b + 4]),
      dtok = tonumber(ARGV[b + 7]), mtok = tonumber(ARGV[b + 8]),
    }
    level.bd_u, level.bd_n = m_parse(ARGV[b + 5])
    level.bm_u, level.bm_n = m_parse(ARGV[b + 6])
    level.windowed = level.tpm ~= nil or level.rpm ~= nil
    levels[i] = level
  end
  return levels
end

-- Loads every level's record with one HMGET (plus the TTL marker 'x').
local function load_levels(levels, K, c, day, month)
  local fields = { 'x' }
  for i = 1, #levels do fields[i + 1] = levels[i].field end
  local raw = redis.call('HMGET', KEYS[1], unpack(fields))
  for i = 1, #levels do
    levels[i].s = load(raw[i + 1], levels[i].windowed, K, c, day, month)
  end
  return raw[1]
end

-- Writes every level's record with one HSET; sets the hash's TTL once per month.
local function save_levels(levels, marker, month, now, tz)
  local args = {}
  for i = 1, #levels do
    args[#args + 1] = levels[i].field
    args[#args + 1] = save(levels[i].s)
  end
  local m = tostring(month)
  if marker ~= m then
    args[#args + 1] = 'x'
    args[#args + 1] = m
  end
  redis.call('HSET', KEYS[1], unpack(args))
  if marker ~= m then
    redis.call('PEXPIRE', KEYS[1], month_end(month, tz) - now + 2 * DAY_MS)
  end
end

-- Levels for settling a hold: exactly the subjects the hold was taken against, with the
-- limits the gateway passed for them now (a 'u' level with an empty field matches the
-- hold's user). Subjects keep whatever window they have.
local function hold_levels(hold_fields, given)
  local by_field, user_level = {}, nil
  for _, l in ipairs(given) do
    if l.kind == 'u' and l.field == '' then user_level = l else by_field[l.field] = l end
  end
  local levels = {}
  for i, field in ipairs(hold_fields) do
    local l = by_field[field]
    if not l and string.sub(field, 1, 2) == 'u:' then l = user_level end
    l = l or {}
    l.field, l.kind, l.windowed = field, string.sub(field, 1, 1), nil
    levels[i] = l
  end
  return levels
end

-- Which limits a subject is over right now, as 'tpm', 'budget_daily', ... (for `record`).
local function over_limits(level)
  local s, over = level.s, {}
  if level.tpm and s.ring ~= '' and s[3] > level.tpm then over[#over + 1] = 'tpm' end
  if level.rpm and s.ring ~= '' and s[4] > level.rpm then over[#over + 1] = 'rpm' end
  if level.bd_u then
    local u, n = m_add(s[6], s[7], s[8], s[9])
    if not m_le(u, n, level.bd_u, level.bd_n) then over[#over + 1] = 'budget_daily' end
  end
  if level.bm_u then
    local u, n = m_add(s[13], s[14], s[15], s[16])
    if not m_le(u, n, level.bm_u, level.bm_n) then over[#over + 1] = 'budget_monthly' end
  end
  if level.dtok and s[10] + s[11] > level.dtok then over[#over + 1] = 'tokens_daily' end
  if level.mtok and s[17] + s[18] > level.mtok then over[#over + 1] = 'tokens_monthly' end
  return over
end
