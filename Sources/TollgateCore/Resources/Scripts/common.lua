-- common.lua — the prelude every Tollgate script starts with (the engine prepends it).
-- Kept small: everything here is re-created on every call.
--
-- Numbers cross the script boundary packed, never as decimal strings: ARGV[1] is a blob of
-- little-endian doubles (struct '<d...'), all integers below 2^53. Converting dozens of
-- decimal ARGV strings with tonumber() would cost more than the whole decision.
--
-- Subject records. An organisation's live counters are one hash; each field is a subject
-- ('o', 'w:<id>', 'k:<id>', 'u:<id>') holding a packed record, as small as it can be,
-- because every byte a script reads or writes costs:
--   header, 93 bytes (struct '<BddI4I4dI4dI4dI4dI4dI4d'):
--     1 K (ring size)   2 newest bucket index   3 window tokens   4 window requests
--     5 day number      6,7 day spent (units, nanos)    8,9 day held (units, nanos)
--     10 day tokens (used + held)
--     11 month number   12,13 month spent   14,15 month held   16 month tokens (used + held)
--   ring, only for subjects with a TPM or RPM limit: K slots of (uint32 tokens, uint32 requests).
-- The window counts every bucket overlapping the last window: K = ceil(window / bucket) + 1,
-- so the tokens admitted in any rolling window never exceed the limit.
-- Hash field 'x' holds the month whose end the hash's TTL was last set to.
--
-- Money counters are (units, nanos) pairs with 0 <= nanos < 1e9, exact far beyond 2^53 nanos;
-- one request's cost is below 2^53 nanos by construction. Limits arrive as such pairs too;
-- -1 means "no limit".
--
-- Time: Redis TIME in ms plus a clock offset (0 in production; tests cross day and month
-- boundaries with it). Days and months are calendar periods at the organisation's UTC offset.

local HEADER = '<BddI4I4dI4dI4dI4dI4dI4d'
local HEADER_SIZE = 93
local SLOT = '<I4I4'
local SLOT_SIZE = 8
local NANOS = 1000000000
local DAY_MS = 86400000

-- The numbers argument: packed doubles, with the level count L at position `fixed` and
-- `per_level` numbers per level after it. A JSON array is accepted too (decoded by cjson,
-- a few microseconds slower), for tools that cannot send NUL bytes, such as redis-benchmark.
local function numbers(raw, fixed, per_level)
  if string.byte(raw, 1) == 91 then return cjson.decode(raw) end
  local L = struct.unpack('<d', raw, (fixed - 1) * 8 + 1)
  return { struct.unpack('<' .. string.rep('d', fixed + per_level * L), raw) }
end

local function now_ms(offset)
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000) + offset
end

local function madd(au, an, bu, bn)
  local n = an + bn
  local carry = math.floor(n / NANOS)
  return au + bu + carry, n - carry * NANOS
end

-- True when (au, an) <= (bu, bn).
local function mle(au, an, bu, bn) return au < bu or (au == bu and an <= bn) end

-- Local day number and month number (year * 12 + month - 1), Howard Hinnant's civil_from_days.
local function periods(now, tz)
  local day = math.floor((now + tz) / DAY_MS)
  local z = day + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return day, y * 12 + m - 1
end

-- UTC ms at which the month after `month` starts (days_from_civil of its first day).
local function month_end(month, tz)
  local following = month + 1
  local y = math.floor(following / 12)
  local m = following - y * 12 + 1
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + math.floor((153 * mp + 2) / 5)
  return (era * 146097 + doe - 719468) * DAY_MS - tz
end

local ZERO_SLOT = '\0\0\0\0\0\0\0\0'

-- Unpacks a subject record and brings it to bucket c, day and month. `windowed`: true keeps
-- or starts a ring (the subject has a TPM or RPM limit), nil keeps whatever ring it has.
-- The ring stays inside the raw record (s.raw) until something has to rewrite it (s.ring).
local function load(raw, windowed, K, c, day, month)
  local s
  if raw then
    s = { struct.unpack(HEADER, raw) }
    s[17] = nil
  else
    s = { K, c, 0, 0, day, 0, 0, 0, 0, 0, month, 0, 0, 0, 0, 0 }
  end
  if raw and s[1] == K and #raw == HEADER_SIZE + K * SLOT_SIZE then
    s.raw = raw
    if c > s[2] then
      if c - s[2] >= K then
        s.ring, s[3], s[4] = string.rep(ZERO_SLOT, K), 0, 0
      else
        local ring = string.sub(raw, HEADER_SIZE + 1)
        for i = s[2] + 1, c do
          local at = (i % K) * SLOT_SIZE
          local t, r = struct.unpack(SLOT, ring, at + 1)
          if t > 0 or r > 0 then
            s[3], s[4] = s[3] - t, s[4] - r
            ring = string.sub(ring, 1, at) .. ZERO_SLOT .. string.sub(ring, at + SLOT_SIZE + 1)
          end
        end
        s.ring = ring
      end
      s[2] = c
    end
  else
    s[1], s[2], s[3], s[4] = K, c, 0, 0
    s.ring = windowed and string.rep(ZERO_SLOT, K) or ''
  end
  if s[5] ~= day then s[5], s[6], s[7], s[8], s[9], s[10] = day, 0, 0, 0, 0, 0 end
  if s[11] ~= month then s[11], s[12], s[13], s[14], s[15], s[16] = month, 0, 0, 0, 0, 0 end
  return s
end

local function has_ring(s) return s.ring == nil or s.ring ~= '' end

-- The (tokens, requests) of bucket `bucket`'s slot.
local function slot(s, K, bucket)
  local at = (bucket % K) * SLOT_SIZE
  if s.ring then return struct.unpack(SLOT, s.ring, at + 1) end
  return struct.unpack(SLOT, s.raw, HEADER_SIZE + at + 1)
end

local function save(s)
  local header = struct.pack(HEADER, s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11], s[12],
    s[13], s[14], s[15], s[16])
  if s.ring then return header .. s.ring end
  if s.slot_at then
    local at = HEADER_SIZE + s.slot_at
    return header .. string.sub(s.raw, HEADER_SIZE + 1, at) .. struct.pack(SLOT, s.slot_t, s.slot_r) .. string.sub(s.raw, at + SLOT_SIZE + 1)
  end
  return header .. string.sub(s.raw, HEADER_SIZE + 1)
end

-- Adds tokens and requests to `bucket` if it is still in the window, clamped at zero.
local function window_add(s, K, bucket, tokens, requests)
  if not has_ring(s) or bucket <= s[2] - K or bucket > s[2] then return end
  local at = (bucket % K) * SLOT_SIZE
  local t, r = slot(s, K, bucket)
  local nt, nr = math.min(4294967295, math.max(0, t + tokens)), math.min(4294967295, math.max(0, r + requests))
  s[3], s[4] = s[3] + nt - t, s[4] + nr - r
  if s.ring == nil and s.slot_at == nil then
    s.slot_at, s.slot_t, s.slot_r = at, nt, nr
  else
    if s.ring == nil then
      s.ring = string.sub(s.raw, HEADER_SIZE + 1, HEADER_SIZE + s.slot_at) .. struct.pack(SLOT, s.slot_t, s.slot_r)
        .. string.sub(s.raw, HEADER_SIZE + s.slot_at + SLOT_SIZE + 1)
      s.slot_at = nil
    end
    s.ring = string.sub(s.ring, 1, at) .. struct.pack(SLOT, nt, nr) .. string.sub(s.ring, at + SLOT_SIZE + 1)
  end
end

-- Moves an amount of money and tokens into (sign 1) or out of (sign -1) the held budgets
-- of the periods (hold_day, hold_month), if they are still the current ones.
local function hold_move(s, sign, cost, tokens, hold_day, hold_month)
  local u, n = madd(0, 0, 0, sign * cost)
  if hold_day == s[5] then
    s[8], s[9] = madd(s[8], s[9], u, n)
    if s[8] < 0 then s[8], s[9] = 0, 0 end
    s[10] = math.max(0, s[10] + sign * tokens)
  end
  if hold_month == s[11] then
    s[14], s[15] = madd(s[14], s[15], u, n)
    if s[14] < 0 then s[14], s[15] = 0, 0 end
    s[16] = math.max(0, s[16] + sign * tokens)
  end
end

-- Reads every subject with one HMGET (plus the TTL marker 'x').
local function load_all(fields, windowed, K, c, day, month)
  local raw = redis.call('HMGET', KEYS[1], 'x', unpack(fields))
  local subjects = {}
  for i = 1, #fields do subjects[i] = load(raw[i + 1] or nil, windowed[i], K, c, day, month) end
  return subjects, raw[1]
end

-- Writes every subject with one HSET; moves the hash's TTL past the month's end once a month.
local function save_all(fields, subjects, marker, month, now, tz)
  local args = {}
  for i = 1, #fields do
    args[2 * i - 1] = fields[i]
    args[2 * i] = save(subjects[i])
  end
  if marker ~= tostring(month) then
    args[#args + 1] = 'x'
    args[#args + 1] = month
    redis.call('HSET', KEYS[1], unpack(args))
    redis.call('PEXPIRE', KEYS[1], month_end(month, tz) - now + 2 * DAY_MS)
  else
    redis.call('HSET', KEYS[1], unpack(args))
  end
end

-- Splits a comma-separated list of subject fields.
local function split_fields(text)
  local fields = {}
  for field in string.gmatch(text, '[^,]+') do fields[#fields + 1] = field end
  return fields
end
