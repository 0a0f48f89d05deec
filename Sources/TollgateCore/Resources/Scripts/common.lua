-- common.lua — the helpers of the engine's function library, defined once when the library
-- loads (QuotaScripts.swift): reserve, settle, release, quota and adjust are functions of it.
-- Names such as N_*, RN_*, SN_*, L_*, S_*, H_*, O_*, A_*, LC_*, LIMIT_* come from
-- ScriptContract.swift and are replaced by their values when the library is built. KEYS and
-- ARGV are the running function's (each function sets them first).
--
-- Cost model (Docs/benchmarks.md, "where the time goes"): every byte that crosses into or out
-- of Lua costs (~4 ns a byte to create a string here), every redis.call ~0.5-1.5 µs. So
-- records are split so that a call reads and writes only what it changes.
--
-- Numbers cross the script boundary packed, never as decimal strings: the last ARGV is a blob
-- of little-endian doubles, all integers below 2^53 (N_* slots, then the script's own, then
-- LEVEL_SIZE per level).
--
-- The organisation's state hash (KEYS[1]) holds, per subject ('o', 'w:<id>', 'k:<id>',
-- 'u:<id>'):
--   <subject>      the header, SUBJECT_FORMAT (S_* fields): window size K (0: no window), newest
--                  bucket, window tokens and requests, then day and month counters;
--   <subject>|<g>  ring group g of a subject with a window: slots g*8 .. g*8+7 of the K-slot
--                  ring (uint32 tokens, uint32 requests each), so an update rewrites 64 bytes,
--                  not the whole ring. A missing group is all zeros.
-- and 'h:<request id>' per live hold (HOLD_FORMAT, then the subject fields comma-separated,
-- '\n', the attribution columns), and 'x': the month whose end the hash's TTL was last set to.
--
-- The window counts every bucket overlapping the last window: K = ceil(window / bucket) + 1,
-- so the tokens admitted in any rolling window never exceed the limit.
--
-- Money counters are (units, nanos) pairs with 0 <= nanos < 1e9, exact far beyond 2^53 nanos;
-- one request's cost is below 2^53 nanos by construction. Limits arrive as such pairs too;
-- -1 means "no limit".
--
-- Time: Redis TIME in ms plus a clock offset (0 in production; tests cross day and month
-- boundaries with it). Days and months are calendar periods at the organisation's UTC offset.

local SLOT = '<I4I4'
local SLOT_SIZE = 8
local GROUP_SLOTS = 8
local ZERO_SLOT = '\0\0\0\0\0\0\0\0'
local NANOS = 1000000000
local DAY_MS = 86400000
local SCOPE_LETTERS = 'kwou'

-- The numbers argument: packed doubles, `levels_at` the slot of the level count (nil: no
-- levels). A JSON array is accepted too (decoded by cjson, a few microseconds slower), for
-- tools that cannot send NUL bytes, such as redis-benchmark.
-- The unpack format of each count, built once per library load (a handful of counts).
local NUMBER_FORMATS = {}
local function numbers(raw, levels_at)
  if string.byte(raw, 1) == 91 then return cjson.decode(raw) end
  local count = #raw / 8
  if levels_at then count = levels_at + LEVEL_SIZE * struct.unpack('<d', raw, (levels_at - 1) * 8 + 1) end
  local format = NUMBER_FORMATS[count]
  if not format then
    format = '<' .. string.rep('d', count)
    NUMBER_FORMATS[count] = format
  end
  return { struct.unpack(format, raw) }
end


local function madd(au, an, bu, bn)
  local n = an + bn
  local carry = math.floor(n / NANOS)
  return au + bu + carry, n - carry * NANOS
end

-- True when (au, an) <= (bu, bn).
local function mle(au, an, bu, bn) return au < bu or (au == bu and an <= bn) end

-- The cost of token counts t at prices p (both in usage order: input, cached input, cache
-- write, output, reasoning; prices per 1M tokens in nano-units): Σ t × p / 10^6, rounded once,
-- half up — split as TokenPrices.cost splits it, so both stay below 2^53 and agree to the nano.
local function cost(t, p)
  local whole, fraction = 0, 0
  for i = 1, 5 do
    local n = t[i]
    if n > 0 then
      local ai = math.floor(p[i] / 1000000)
      whole = whole + n * ai
      fraction = fraction + n * (p[i] - ai * 1000000)
    end
  end
  return whole + math.floor((fraction + 500000) / 1000000)
end

-- Local day number and month number (year * 12 + month - 1), Howard Hinnant's civil_from_days.
-- The month of the last day asked for is kept (a pure function of the day).
local last_day, last_month
local function periods(now, tz)
  local day = math.floor((now + tz) / DAY_MS)
  if day == last_day then return day, last_month end
  local z = day + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  last_day, last_month = day, y * 12 + m - 1
  return day, last_month
end

-- UTC ms at which the month after `month` starts (days_from_civil of its first day). The last
-- answer is kept.
local end_month, end_tz, end_ms
local function month_end(month, tz)
  if month == end_month and tz == end_tz then return end_ms end
  local following = month + 1
  local y = math.floor(following / 12)
  local m = following - y * 12 + 1
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + math.floor((153 * mp + 2) / 5)
  end_month, end_tz, end_ms = month, tz, (era * 146097 + doe - 719468) * DAY_MS - tz
  return end_ms
end

-- The call's moment from its numbers `a`: now (Redis TIME in ms plus the clock offset), the
-- timezone offset, bucket ms, K, the current bucket, day and month.
local function moment(a)
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000) + a[N_CLOCK_OFFSET]
  local day, month = periods(now, a[N_TIMEZONE_OFFSET])
  return now, a[N_TIMEZONE_OFFSET], a[N_BUCKET_MS], a[N_BUCKETS], math.floor(now / a[N_BUCKET_MS]), day, month
end

local function group_of(K, bucket) return math.floor((bucket % K) / GROUP_SLOTS) end

-- '|<g>' per ring group number, made once per library load (no number formatting per call).
local GROUP_SUFFIXES = {}
local function group_field(field, g)
  local suffix = GROUP_SUFFIXES[g]
  if not suffix then
    suffix = '|' .. g
    GROUP_SUFFIXES[g] = suffix
  end
  return field .. suffix
end

local function zero_group(K, g) return string.rep(ZERO_SLOT, math.min(GROUP_SLOTS, K - g * GROUP_SLOTS)) end

-- Ring group g of subject s, fetched on first use (a group not read with the header).
local function group(s, K, g)
  local v = s.groups[g]
  if v == nil then
    if not s.reset then v = redis.call('HGET', KEYS[1], group_field(s.field, g)) end
    if not v then v = zero_group(K, g) end
    s.groups[g] = v
  end
  return v
end

-- Reads, with one HMGET, the ring group of `bucket` for every subject that keeps a window with
-- `bucket` in it and has not read that group yet (instead of one HGET per subject).
local function prefetch(subjects, K, bucket)
  local g, names, wanted = group_of(K, bucket), {}, {}
  for i = 1, #subjects do
    local s = subjects[i]
    if s[S_WINDOW] == K and not s.reset and s.groups[g] == nil and bucket > s[S_NEWEST] - K and bucket <= s[S_NEWEST] then
      wanted[#wanted + 1] = s
      names[#wanted] = group_field(s.field, g)
    end
  end
  if #wanted == 0 then return end
  local values = redis.call('HMGET', KEYS[1], unpack(names))
  for i = 1, #wanted do wanted[i].groups[g] = values[i] or zero_group(K, g) end
end

-- The (tokens, requests) of bucket `bucket`'s slot.
local function slot(s, K, bucket)
  local g = group_of(K, bucket)
  return struct.unpack(SLOT, group(s, K, g), (bucket % K - g * GROUP_SLOTS) * SLOT_SIZE + 1)
end

local function set_slot(s, K, bucket, t, r)
  local g = group_of(K, bucket)
  local v, at = group(s, K, g), (bucket % K - g * GROUP_SLOTS) * SLOT_SIZE
  s.groups[g] = string.sub(v, 1, at) .. struct.pack(SLOT, t, r) .. string.sub(v, at + SLOT_SIZE + 1)
  s.dirty[g] = true
end

-- Unpacks subject `field` from its header `raw` (nil: new) and `graw`, the stored ring group of
-- bucket c (false: none), and brings it to bucket c, day and month. `windowed`: true starts a
-- window if the subject keeps none, nil keeps whatever it has. `advance` false leaves the window
-- as stored (a budget correction touches no window).
local function load(field, raw, graw, windowed, K, c, day, month, advance)
  -- One constructor with the named fields: no rehash as they are added.
  local s
  if raw then
    s = { field = field, groups = {}, dirty = {}, struct.unpack(SUBJECT_FORMAT, raw) }
    s[#s] = nil
  else
    s = { field = field, groups = {}, dirty = {}, 0, c, 0, 0, day, 0, 0, 0, 0, 0, month, 0, 0, 0, 0, 0 }
  end
  if advance ~= false then
    if raw and s[S_WINDOW] == K then
      local gc = group_of(K, c)
      if #raw > SUBJECT_SIZE then
        -- A record of the layout before ring groups (header and ring in one field): split it.
        for g = 0, math.ceil(K / GROUP_SLOTS) - 1 do
          s.groups[g] = string.sub(raw, SUBJECT_SIZE + g * GROUP_SLOTS * SLOT_SIZE + 1, SUBJECT_SIZE + (g + 1) * GROUP_SLOTS * SLOT_SIZE)
        end
        s.reset, s.stale = true, true
      else
        s.groups[gc] = graw or zero_group(K, gc)
      end
      local d = c - s[S_NEWEST]
      if d >= K then
        s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS], s.reset, s.stale, s.groups = 0, 0, true, true, {}
      elseif d > 0 then
        for j = s[S_NEWEST] + 1, c do
          local t, r = slot(s, K, j)
          if t > 0 or r > 0 then
            s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS] = s[S_WINDOW_TOKENS] - t, s[S_WINDOW_REQUESTS] - r
            set_slot(s, K, j, 0, 0)
          end
        end
      end
      if d > 0 then s[S_NEWEST] = c end
    elseif windowed then
      -- A new window: every slot is zero; ring groups left from an earlier window are stale.
      s[S_WINDOW], s[S_NEWEST], s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS], s.reset, s.stale = K, c, 0, 0, true, raw ~= nil
    else
      s[S_WINDOW], s[S_NEWEST], s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS] = 0, c, 0, 0
    end
  end
  if s[S_DAY] ~= day then
    s[S_DAY], s[S_DAY_SPENT_U], s[S_DAY_SPENT_N], s[S_DAY_HELD_U], s[S_DAY_HELD_N], s[S_DAY_TOKENS] = day, 0, 0, 0, 0, 0
  end
  if s[S_MONTH] ~= month then
    s[S_MONTH], s[S_MONTH_SPENT_U], s[S_MONTH_SPENT_N], s[S_MONTH_HELD_U], s[S_MONTH_HELD_N], s[S_MONTH_TOKENS] = month, 0, 0, 0, 0, 0
  end
  return s
end

local function windowed(s) return s[S_WINDOW] > 0 end

-- Appends subject s's header and changed ring groups (all of them when stale ones may be
-- stored) to `args`.
local function save(s, args)
  args[#args + 1] = s.field
  args[#args + 1] = struct.pack(SUBJECT_FORMAT, unpack(s, 1, S_MONTH_TOKENS))
  local K = s[S_WINDOW]
  if K == 0 then return end
  if s.stale then
    for g = 0, math.ceil(K / GROUP_SLOTS) - 1 do
      args[#args + 1] = group_field(s.field, g)
      args[#args + 1] = group(s, K, g)
    end
  else
    for g in pairs(s.dirty) do
      args[#args + 1] = group_field(s.field, g)
      args[#args + 1] = s.groups[g]
    end
  end
end

-- Adds tokens and requests to `bucket` if it is still in the window, clamped at zero. A change
-- that changes nothing reads and writes no ring group.
local function window_add(s, K, bucket, tokens, requests)
  if (tokens == 0 and requests == 0) or s[S_WINDOW] == 0 or bucket <= s[S_NEWEST] - K or bucket > s[S_NEWEST] then return end
  local g = group_of(K, bucket)
  local v, at = group(s, K, g), (bucket % K - g * GROUP_SLOTS) * SLOT_SIZE
  local t, r = struct.unpack(SLOT, v, at + 1)
  local nt, nr = math.min(4294967295, math.max(0, t + tokens)), math.min(4294967295, math.max(0, r + requests))
  if nt == t and nr == r then return end
  s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS] = s[S_WINDOW_TOKENS] + nt - t, s[S_WINDOW_REQUESTS] + nr - r
  s.groups[g] = string.sub(v, 1, at) .. struct.pack(SLOT, nt, nr) .. string.sub(v, at + SLOT_SIZE + 1)
  s.dirty[g] = true
end

-- Moves an amount of money and tokens into (sign 1) or out of (sign -1) the held budgets
-- of the periods (hold_day, hold_month), if they are still the current ones.
local function hold_move(s, sign, amount, tokens, hold_day, hold_month)
  local u, n = madd(0, 0, 0, sign * amount)
  if hold_day == s[S_DAY] then
    s[S_DAY_HELD_U], s[S_DAY_HELD_N] = madd(s[S_DAY_HELD_U], s[S_DAY_HELD_N], u, n)
    if s[S_DAY_HELD_U] < 0 then s[S_DAY_HELD_U], s[S_DAY_HELD_N] = 0, 0 end
    s[S_DAY_TOKENS] = math.max(0, s[S_DAY_TOKENS] + sign * tokens)
  end
  if hold_month == s[S_MONTH] then
    s[S_MONTH_HELD_U], s[S_MONTH_HELD_N] = madd(s[S_MONTH_HELD_U], s[S_MONTH_HELD_N], u, n)
    if s[S_MONTH_HELD_U] < 0 then s[S_MONTH_HELD_U], s[S_MONTH_HELD_N] = 0, 0 end
    s[S_MONTH_TOKENS] = math.max(0, s[S_MONTH_TOKENS] + sign * tokens)
  end
end

-- One HMGET of fields `extra` (such as 'x' and a hold) and, per subject field, its header and
-- the ring group of bucket c: the header of fields[i] is at #extra + 2i - 1, its group after it.
local function read(extra, fields, K, c)
  local names, E, gc = {}, #extra, group_of(K, c)
  for i = 1, E do names[i] = extra[i] end
  for i = 1, #fields do
    names[E + 2 * i - 1] = fields[i]
    names[E + 2 * i] = group_field(fields[i], gc)
  end
  return redis.call('HMGET', KEYS[1], unpack(names))
end

-- Subjects `fields` of a read whose first header is at raw[from].
local function subjects_of(raw, from, fields, flags, K, c, day, month, advance)
  local subjects = {}
  for i = 1, #fields do
    subjects[i] = load(fields[i], raw[from + 2 * i - 2] or nil, raw[from + 2 * i - 1] or false, flags[i], K, c, day, month, advance)
  end
  return subjects
end

-- Writes every subject (and the field/value pairs `extra`) with one HSET; moves the hash's TTL
-- past the month's end once a month (`marker`: the stored 'x').
local function save_all(subjects, marker, month, now, tz, extra)
  local args = extra or {}
  for i = 1, #subjects do save(subjects[i], args) end
  local fresh = marker ~= tostring(month)
  if fresh then
    args[#args + 1] = 'x'
    args[#args + 1] = month
  end
  redis.call('HSET', KEYS[1], unpack(args))
  if fresh then redis.call('PEXPIRE', KEYS[1], month_end(month, tz) - now + 2 * DAY_MS) end
end

-- Splits a comma-separated list of subject fields.
local function split_fields(text)
  local fields = {}
  for field in string.gmatch(text, '[^,]+') do fields[#fields + 1] = field end
  return fields
end

-- Column `index` (1-based) of the tab-separated `text` ('' past its last column).
local function column(text, index)
  local start = 1
  for _ = 2, index do
    local tab = string.find(text, '\t', start, true)
    if not tab then return '' end
    start = tab + 1
  end
  local stop = string.find(text, '\t', start, true)
  return string.sub(text, start, stop and stop - 1 or -1)
end

-- The live hold `raw` (a state hash field): its numbers (H_*), subject fields and columns.
local function unpack_hold(raw)
  local h = { struct.unpack(HOLD_FORMAT, raw) }
  local rest = string.sub(raw, h[#h])
  local nl = string.find(rest, '\n', 1, true)
  return h, split_fields(string.sub(rest, 1, nl - 1)), string.sub(rest, nl + 1)
end

-- Idempotency slices: KEYS[first .. first + 3] are the slice buckets of the request for the
-- client's slices clientSlice - 2 .. clientSlice + 1. A slice is `retention` ms of Redis time
-- and expires as a whole once the next one has ended, so an outcome is kept between one and
-- two retentions. Returns the keys of the current and the previous slice by Redis' clock.
local function slices(first, now, a)
  local offset = math.floor(now / a[N_RETENTION_MS]) - a[N_CLIENT_SLICE]
  if offset < -1 or offset > 1 then error('clock skew between the gateway and Redis exceeds the idempotency retention') end
  return KEYS[first + 2 + offset], KEYS[first + 1 + offset], (math.floor(now / a[N_RETENTION_MS]) + 2) * a[N_RETENTION_MS]
end

-- The outcome of request `digest` (ARGV[1]) if it was settled: current slice, then the previous.
local function outcome_of(current, previous)
  return redis.call('HGET', current, ARGV[1]) or redis.call('HGET', previous, ARGV[1])
end

-- Writes an outcome record into the current slice; the slice expires once the next one ends.
local function keep_outcome(current, expires_at, record)
  redis.call('HSET', current, ARGV[1], record)
  redis.call('PEXPIREAT', current, expires_at, 'NX')
end

-- A commit's outcome record: OUTCOME_FORMAT, the usage counts present in the mask, the price
-- version and, when it is not the version's own ('gpt-4.1' of 'gpt-4.1@3'), '\t' and the model.
local function pack_outcome(state, amount, at_ms, over_mask, usage, version, model)
  local mask, present = 0, {}
  for i = 1, 5 do
    if usage[i] > 0 then
      mask = mask + 2 ^ (i - 1)
      present[#present + 1] = usage[i]
    end
  end
  local tail = version
  if string.match(version, '^(.*)@') ~= model then tail = version .. '\t' .. model end
  return state .. struct.pack(OUTCOME_FORMAT .. string.rep('I4', #present), amount, math.floor(at_ms / 1000), over_mask, mask, unpack(present)) .. tail
end

-- The record's state letter, and for a commit: {O_* numbers}, usage {5 counts}, version, model.
local function unpack_outcome(record)
  local state = string.sub(record, 1, 1)
  if state ~= OUTCOME_COMMITTED_HOLD and state ~= OUTCOME_COMMITTED then return state end
  local o = { struct.unpack(OUTCOME_FORMAT, record, 2) }
  local pos, usage = o[#o], {}
  for i = 1, 5 do
    if bit.band(o[O_USAGE_MASK], 2 ^ (i - 1)) ~= 0 then
      usage[i], pos = struct.unpack('<I4', record, pos)
    else
      usage[i] = 0
    end
  end
  local tail = string.sub(record, pos)
  local tab = string.find(tail, '\t', 1, true)
  if tab then return state, o, usage, string.sub(tail, 1, tab - 1), string.sub(tail, tab + 1) end
  return state, o, usage, tail, string.match(tail, '^(.*)@') or ''
end

-- Bit of limit kind k (1-based in LIMIT_KINDS) of the subject whose field starts with `letter`.
local function over_bit(letter, k)
  return 2 ^ ((string.find(SCOPE_LETTERS, letter, 1, true) - 1) * #LIMIT_KINDS + k - 1)
end

-- The over-limit list ('k:tpm,o:budget_daily') of a mask.
local function over_list(mask)
  local over = {}
  for si = 1, #SCOPE_LETTERS do
    for k = 1, #LIMIT_KINDS do
      if bit.band(mask, 2 ^ ((si - 1) * #LIMIT_KINDS + k - 1)) ~= 0 then
        over[#over + 1] = string.sub(SCOPE_LETTERS, si, si) .. ':' .. LIMIT_KINDS[k]
      end
    end
  end
  return table.concat(over, ',')
end
