-- common.lua — the helpers of the engine's function library, defined once when the library
-- loads (QuotaScripts.swift): reserve, settle, release, quota and adjust are functions of it.
-- Names such as N_*, RN_*, SN_*, L_*, T_*, S_*, H_*, O_*, A_*, LC_*, LIMIT_* come from
-- ScriptContract.swift and are replaced by their values when the library is built. KEYS and
-- ARGV are the running function's (each function sets them first; run_batch, per request).
--
-- Cost model (Docs/benchmarks.md, "where the time goes"): every byte that crosses into or out
-- of Lua costs (~4 ns a byte to create a string here), every redis.call ~0.5-1.5 µs. So
-- records are split so that a call reads and writes only what it changes.
--
-- Numbers cross the script boundary packed, never as decimal strings: the last ARGV is a blob
-- of little-endian doubles, all integers below 2^53 (N_* slots, then the script's own, then
-- LEVEL_SIZE per level, then the T_* trailer).
--
-- The organisation's state hash (KEYS[1]) holds, per subject ('o', 'w:<id>', 'k:<id>',
-- 'u:<id>'):
--   <subject>      the header, SUBJECT_FORMAT (S_* fields): window size K (0: no window), newest
--                  bucket, window tokens and requests, day and month counters, then the newest
--                  bucket's tokens and requests (state layout 2: SUBJECT_SIZE bytes). Layout 1
--                  (SUBJECT_FORMAT_1, SUBJECT_SIZE_1 bytes, what earlier versions write) ends
--                  before them and keeps the newest bucket's counts in its ring slot. Both are
--                  read; T_STATE_LAYOUT says which one a call writes;
--   <subject>|<g>  ring group g of a subject with a window: slots g*8 .. g*8+7 of the K-slot
--                  ring (uint32 tokens, uint32 requests each), so an update rewrites 64 bytes,
--                  not the whole ring. A missing group is all zeros. In layout 2 the newest
--                  bucket's slot is not used: its counts move there when a newer bucket starts.
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

-- The library functions used on every call, as upvalues (a global read is a table miss and a
-- metatable lookup). Globals exist only once a function runs, not while the library loads: each
-- function starts with `if not floor then bind() end`.
local floor, min, max, spack, sunpack, sub, rep, find, format, byte, concat, band, tunpack
local function bind()
  floor, min, max, spack, sunpack = math.floor, math.min, math.max, struct.pack, struct.unpack
  sub, rep, find, format, byte, concat, band, tunpack = string.sub, string.rep, string.find, string.format, string.byte, table.concat, bit.band, unpack
end
local SLOT = '<I4I4'
local SLOT_SIZE = 8
local GROUP_SLOTS = 8
local ZERO_SLOT = '\0\0\0\0\0\0\0\0'
local NANOS = 1000000000
local DAY_MS = 86400000
local SCOPE_LETTERS = 'kwou'

-- The numbers argument: packed doubles, the contract's slots then the T_* trailer (the last
-- slots; T_* counts from the end). A JSON array is accepted too (decoded by cjson, a few
-- microseconds slower), for tools that cannot send NUL bytes, such as redis-benchmark.
-- The unpack format of each count, built once per library load (a handful of counts).
local NUMBER_FORMATS = {}
local function numbers(raw)
  if byte(raw, 1) == 91 then return cjson.decode(raw) end
  local count = #raw / 8
  local format = NUMBER_FORMATS[count]
  if not format then
    format = '<' .. rep('d', count)
    NUMBER_FORMATS[count] = format
  end
  local a = { sunpack(format, raw) }
  a[#a] = nil -- the position after the last number
  return a
end

local function madd(au, an, bu, bn)
  local n = an + bn
  if n >= 0 and n < NANOS then return au + bu, n end
  local carry = floor(n / NANOS)
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
      local ai = floor(p[i] / 1000000)
      whole = whole + n * ai
      fraction = fraction + n * (p[i] - ai * 1000000)
    end
  end
  return whole + floor((fraction + 500000) / 1000000)
end

-- Local day number and month number (year * 12 + month - 1), Howard Hinnant's civil_from_days.
-- The month of the last day asked for is kept (a pure function of the day).
local last_day, last_month
local function periods(now, tz)
  local day = floor((now + tz) / DAY_MS)
  if day == last_day then return day, last_month end
  local z = day + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
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
  local y = floor(following / 12)
  local m = following - y * 12 + 1
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + floor((153 * mp + 2) / 5)
  end_month, end_tz, end_ms = month, tz, (era * 146097 + doe - 719468) * DAY_MS - tz
  return end_ms
end

-- The call's moment from its numbers `a`: now (Redis TIME in ms plus the clock offset), the
-- timezone offset, bucket ms, K, the current bucket, day and month.
-- The state layout the running call writes (its T_STATE_LAYOUT, set by moment()).
local write_layout = 2

-- A batch: requests of one partition run one after another in one call (run_batch), each as if
-- it were its own call. Its requests read TIME once; a subject one request loads stays loaded
-- for the next (`loaded`, by state hash and field), and the subjects requests save are written
-- with one HSET per state hash when the batch ends (`pending`, flush()). nil outside a batch.
local batch = nil

local function moment(a)
  write_layout = a[#a - T_STATE_LAYOUT]
  local t = batch and batch.time
  if not t then
    t = redis.call('TIME')
    if batch then batch.time = t end
  end
  local now = t[1] * 1000 + floor(t[2] / 1000) + a[N_CLOCK_OFFSET]
  local day, month = periods(now, a[N_TIMEZONE_OFFSET])
  return now, a[N_TIMEZONE_OFFSET], a[N_BUCKET_MS], a[N_BUCKETS], floor(now / a[N_BUCKET_MS]), day, month
end

local function group_of(K, bucket) return floor((bucket % K) / GROUP_SLOTS) end

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

local function zero_group(K, g) return rep(ZERO_SLOT, min(GROUP_SLOTS, K - g * GROUP_SLOTS)) end

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
-- `bucket` in its ring (not the newest: that one is in the header) and has not read that group
-- yet (instead of one HGET per subject).
local function prefetch(subjects, K, bucket)
  local g, names, wanted = group_of(K, bucket), {}, {}
  for i = 1, #subjects do
    local s = subjects[i]
    if s[S_WINDOW] == K and not s.reset and s.groups[g] == nil and bucket > s[S_NEWEST] - K and bucket < s[S_NEWEST] then
      wanted[#wanted + 1] = s
      names[#wanted] = group_field(s.field, g)
    end
  end
  if #wanted == 0 then return end
  local values = redis.call('HMGET', KEYS[1], tunpack(names))
  for i = 1, #wanted do wanted[i].groups[g] = values[i] or zero_group(K, g) end
end

-- The (tokens, requests) stored in bucket `bucket`'s ring slot.
local function ring_slot(s, K, bucket)
  local g = group_of(K, bucket)
  return sunpack(SLOT, group(s, K, g), (bucket % K - g * GROUP_SLOTS) * SLOT_SIZE + 1)
end

-- Stores (t, r) in bucket `bucket`'s ring slot; a slot that already holds them is not rewritten.
local function set_ring_slot(s, K, bucket, t, r)
  local g = group_of(K, bucket)
  local v, at = group(s, K, g), (bucket % K - g * GROUP_SLOTS) * SLOT_SIZE
  local ot, orq = sunpack(SLOT, v, at + 1)
  if ot == t and orq == r then return end
  s.groups[g] = sub(v, 1, at) .. spack(SLOT, t, r) .. sub(v, at + SLOT_SIZE + 1)
  s.dirty[g] = true
end

-- The (tokens, requests) of bucket `bucket`: the header's for the newest, else its ring slot's.
local function slot(s, K, bucket)
  if bucket == s[S_NEWEST] then return s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS] end
  return ring_slot(s, K, bucket)
end

-- Starts a new window of K buckets on subject s at bucket c: every slot is zero, and ring
-- groups read or kept belong to another window (`stale`: stored ones may be there too).
local function start_window(s, K, c, stale)
  s[S_WINDOW], s[S_NEWEST], s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS], s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS] = K, c, 0, 0, 0, 0
  s.reset, s.stale, s.groups, s.dirty = true, stale, {}, {}
end

-- Unpacks subject `field` from its header `raw` (nil: new) and `graw`, the stored ring group of
-- bucket c (false: none), and brings it to bucket c, day and month. `windowed`: true starts a
-- window if the subject keeps none, nil keeps whatever it has. `advance` false leaves the window
-- as stored (a budget correction touches no window).
local function load(field, raw, graw, windowed, K, c, day, month, advance)
  -- One constructor with the named fields: no rehash as they are added.
  local s, size = nil, raw and #raw
  if size == SUBJECT_SIZE then
    s = { field = field, groups = {}, dirty = {}, sunpack(SUBJECT_FORMAT, raw) }
    s[#s] = nil
  elseif raw then
    -- Layout 1, or the layout before ring groups (a layout 1 header and the ring in one
    -- field): the newest bucket's counts are taken from its ring slot below.
    s = { field = field, groups = {}, dirty = {}, sunpack(SUBJECT_FORMAT_1, raw) }
    s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS] = 0, 0
  else
    s = { field = field, groups = {}, dirty = {}, 0, c, 0, 0, day, 0, 0, 0, 0, 0, month, 0, 0, 0, 0, 0, 0, 0 }
  end
  if raw and s[S_WINDOW] == K then
    if size > SUBJECT_SIZE_1 and size ~= SUBJECT_SIZE then
      -- The layout before ring groups: split the ring.
      for g = 0, math.ceil(K / GROUP_SLOTS) - 1 do
        s.groups[g] = sub(raw, SUBJECT_SIZE_1 + g * GROUP_SLOTS * SLOT_SIZE + 1, SUBJECT_SIZE_1 + (g + 1) * GROUP_SLOTS * SLOT_SIZE)
      end
      s.reset, s.stale = true, true
    else
      local gc = group_of(K, c)
      s.groups[gc] = graw or zero_group(K, gc)
    end
    -- (A window that has passed whole is restarted: its counts are not needed.)
    if size ~= SUBJECT_SIZE and c - s[S_NEWEST] < K then s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS] = ring_slot(s, K, s[S_NEWEST]) end
  elseif size == SUBJECT_SIZE_1 and s[S_WINDOW] > 0 then
    -- A window of another size (the settings changed since): its own ring has the counts.
    s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS] = ring_slot(s, s[S_WINDOW], s[S_NEWEST])
  end
  if advance ~= false then
    if raw and s[S_WINDOW] == K then
      local n, d = s[S_NEWEST], c - s[S_NEWEST]
      if d >= K then
        s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS], s.reset, s.stale, s.groups = 0, 0, true, true, {}
      elseif d > 0 then
        -- The newest bucket's counts go to its slot; the buckets now starting reuse the slots
        -- of buckets that leave the window.
        set_ring_slot(s, K, n, s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS])
        for j = n + 1, c do
          local t, r = ring_slot(s, K, j)
          if t > 0 or r > 0 then
            s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS] = s[S_WINDOW_TOKENS] - t, s[S_WINDOW_REQUESTS] - r
            set_ring_slot(s, K, j, 0, 0)
          end
        end
      end
      if d > 0 then s[S_NEWEST], s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS] = c, 0, 0 end
    elseif windowed then
      start_window(s, K, c, raw ~= nil)
    else
      s[S_WINDOW], s[S_NEWEST], s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS], s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS] = 0, c, 0, 0, 0, 0
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

-- load(), or within a batch the subject as an earlier request of the batch left it (`raw` and
-- `graw`, read before, are then stale and unused). `windowed` starts a window on it as load() would.
local function subject(field, raw, graw, windowed, K, c, day, month)
  if not batch then return load(field, raw, graw, windowed, K, c, day, month) end
  local loaded = batch.loaded[KEYS[1]]
  if not loaded then
    loaded = {}
    batch.loaded[KEYS[1]] = loaded
  end
  local s = loaded[field]
  if not s then
    s = load(field, raw, graw, windowed, K, c, day, month)
    loaded[field] = s
  elseif windowed and s[S_WINDOW] ~= K then
    start_window(s, K, c, true)
  end
  return s
end

-- Appends subject s's header in the call's layout and changed ring groups (all of them when
-- stale ones may be stored) to `args`. Layout 1 keeps the newest bucket's counts in its slot.
local function save(s, args)
  local K = s[S_WINDOW]
  args[#args + 1] = s.field
  if write_layout == 1 then
    if K > 0 then set_ring_slot(s, K, s[S_NEWEST], s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS]) end
    args[#args + 1] = spack(SUBJECT_FORMAT_1, tunpack(s, 1, S_MONTH_TOKENS))
  else
    args[#args + 1] = spack(SUBJECT_FORMAT, tunpack(s, 1, S_NEWEST_REQUESTS))
  end
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

-- Adds tokens and requests to `bucket` if it is still in the window, clamped at zero: the
-- newest bucket's counts are in the header, an older one's in its ring slot. A change that
-- changes nothing reads and writes no ring group.
local function window_add(s, K, bucket, tokens, requests)
  if (tokens == 0 and requests == 0) or s[S_WINDOW] == 0 or bucket <= s[S_NEWEST] - K or bucket > s[S_NEWEST] then return end
  if bucket == s[S_NEWEST] then
    local t, r = s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS]
    local nt, nr = min(4294967295, max(0, t + tokens)), min(4294967295, max(0, r + requests))
    s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS] = s[S_WINDOW_TOKENS] + nt - t, s[S_WINDOW_REQUESTS] + nr - r
    s[S_NEWEST_TOKENS], s[S_NEWEST_REQUESTS] = nt, nr
    return
  end
  local g = group_of(K, bucket)
  local v, at = group(s, K, g), (bucket % K - g * GROUP_SLOTS) * SLOT_SIZE
  local t, r = sunpack(SLOT, v, at + 1)
  local nt, nr = min(4294967295, max(0, t + tokens)), min(4294967295, max(0, r + requests))
  if nt == t and nr == r then return end
  s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS] = s[S_WINDOW_TOKENS] + nt - t, s[S_WINDOW_REQUESTS] + nr - r
  s.groups[g] = sub(v, 1, at) .. spack(SLOT, nt, nr) .. sub(v, at + SLOT_SIZE + 1)
  s.dirty[g] = true
end

-- Moves an amount of money and tokens into (sign 1) or out of (sign -1) the held budgets
-- of the periods (hold_day, hold_month), if they are still the current ones.
local function hold_move(s, sign, amount, tokens, hold_day, hold_month)
  local u, n = madd(0, 0, 0, sign * amount)
  if hold_day == s[S_DAY] then
    s[S_DAY_HELD_U], s[S_DAY_HELD_N] = madd(s[S_DAY_HELD_U], s[S_DAY_HELD_N], u, n)
    if s[S_DAY_HELD_U] < 0 then s[S_DAY_HELD_U], s[S_DAY_HELD_N] = 0, 0 end
    s[S_DAY_TOKENS] = max(0, s[S_DAY_TOKENS] + sign * tokens)
  end
  if hold_month == s[S_MONTH] then
    s[S_MONTH_HELD_U], s[S_MONTH_HELD_N] = madd(s[S_MONTH_HELD_U], s[S_MONTH_HELD_N], u, n)
    if s[S_MONTH_HELD_U] < 0 then s[S_MONTH_HELD_U], s[S_MONTH_HELD_N] = 0, 0 end
    s[S_MONTH_TOKENS] = max(0, s[S_MONTH_TOKENS] + sign * tokens)
  end
end

-- One HMGET of fields `extra` (such as 'x' and a hold) and, per subject field, its header and
-- the ring group of bucket c: the header of fields[i] is at #extra + 2i - 1, its group after it.
-- Within a batch, a subject an earlier request loaded is not read again (false in its place).
local function read(extra, fields, K, c)
  local names, E, gc = {}, #extra, group_of(K, c)
  local loaded = batch and batch.loaded[KEYS[1]]
  for i = 1, E do names[i] = extra[i] end
  local at = {}
  for i = 1, #fields do
    if not (loaded and loaded[fields[i]]) then
      names[#names + 1] = fields[i]
      at[i] = #names
      names[#names + 1] = group_field(fields[i], gc)
    end
  end
  local values = #names > 0 and redis.call('HMGET', KEYS[1], tunpack(names)) or {}
  if #names == E + 2 * #fields then return values end
  local raw = {}
  for i = 1, E do raw[i] = values[i] end
  for i = 1, #fields do
    local p = at[i]
    raw[E + 2 * i - 1], raw[E + 2 * i] = p and values[p] or false, p and values[p + 1] or false
  end
  return raw
end

-- Subjects `fields` of a read whose first header is at raw[from].
local function subjects_of(raw, from, fields, flags, K, c, day, month, advance)
  local subjects = {}
  for i = 1, #fields do
    if advance == false then
      subjects[i] = load(fields[i], raw[from + 2 * i - 2] or nil, raw[from + 2 * i - 1] or false, flags[i], K, c, day, month, advance)
    else
      subjects[i] = subject(fields[i], raw[from + 2 * i - 2] or nil, raw[from + 2 * i - 1] or false, flags[i], K, c, day, month)
    end
  end
  return subjects
end

-- Writes `args` (subjects' field/value pairs) and 'x' with one HSET; moves the hash's TTL past
-- the month's end once a month (`marker`: the stored 'x').
local function write_state(key, args, marker, month, now, tz)
  local fresh = marker ~= tostring(month)
  if fresh then
    args[#args + 1] = 'x'
    args[#args + 1] = month
  end
  if #args > 0 then redis.call('HSET', key, tunpack(args)) end
  if fresh then redis.call('PEXPIRE', key, month_end(month, tz) - now + 2 * DAY_MS) end
end

-- Writes every subject and the field/value pairs `extra` of the state hash. Within a batch the
-- extra pairs are written now and the subjects when the batch ends (flush()).
local function save_all(subjects, marker, month, now, tz, extra)
  if not batch then
    local args = extra or {}
    for i = 1, #subjects do save(subjects[i], args) end
    return write_state(KEYS[1], args, marker, month, now, tz)
  end
  if extra then redis.call('HSET', KEYS[1], tunpack(extra)) end
  local pending = batch.pending[KEYS[1]]
  if not pending then
    pending = { saved = {}, list = {} }
    batch.pending[KEYS[1]] = pending
    batch.hashes[#batch.hashes + 1] = KEYS[1]
  end
  for i = 1, #subjects do
    local s = subjects[i]
    if not pending.saved[s] then
      pending.saved[s] = true
      pending.list[#pending.list + 1] = s
    end
  end
  pending.marker, pending.month, pending.now, pending.tz = marker, month, now, tz
end

-- Writes what the batch's requests saved: one HSET per state hash.
local function flush()
  for _, key in ipairs(batch.hashes) do
    local pending, args = batch.pending[key], {}
    KEYS = { key } -- save() may fetch a ring group of this hash
    for _, s in ipairs(pending.list) do save(s, args) end
    write_state(key, args, pending.marker, pending.month, pending.now, pending.tz)
  end
end

-- Runs `body` (a function's body, reading KEYS and ARGV) for each request of a batch and
-- returns their replies in order. `args`: the request count, then per request its key count,
-- its argument count and its arguments; `keys`: every request's keys in order. A request that
-- fails answers its error and the others go on (a script fails before it changes anything).
local function run_batch(body, keys, args)
  if not floor then bind() end
  local replies, k, a = {}, 1, 2
  batch = { loaded = {}, pending = {}, hashes = {} }
  for r = 1, tonumber(args[1]) do
    local nk, na = tonumber(args[a]), tonumber(args[a + 1])
    KEYS, ARGV = { tunpack(keys, k, k + nk - 1) }, { tunpack(args, a + 2, a + 1 + na) }
    k, a = k + nk, a + 2 + na
    local ok, reply = pcall(body)
    if ok then
      replies[r] = reply
    elseif type(reply) == 'table' and reply.err then
      replies[r] = reply
    else
      replies[r] = redis.error_reply(tostring(reply))
    end
  end
  local ok, failure = pcall(flush)
  batch = nil
  if not ok then error(failure) end
  return replies
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
    local tab = find(text, '\t', start, true)
    if not tab then return '' end
    start = tab + 1
  end
  local stop = find(text, '\t', start, true)
  return sub(text, start, stop and stop - 1 or -1)
end

-- The live hold `raw` (a state hash field): its numbers (H_*), subject fields and columns.
local function unpack_hold(raw)
  local h = { sunpack(HOLD_FORMAT, raw) }
  local rest = sub(raw, h[#h])
  local nl = find(rest, '\n', 1, true)
  return h, split_fields(sub(rest, 1, nl - 1)), sub(rest, nl + 1)
end

-- Idempotency slices: KEYS[first .. first + 3] are the slice buckets of the request for the
-- client's slices clientSlice - 2 .. clientSlice + 1. A slice is `retention` ms of Redis time
-- and expires as a whole once the next one has ended, so an outcome is kept between one and
-- two retentions. Returns the keys of the current and the previous slice by Redis' clock.
local function slices(first, now, a)
  local offset = floor(now / a[N_RETENTION_MS]) - a[N_CLIENT_SLICE]
  if offset < -1 or offset > 1 then error('clock skew between the gateway and Redis exceeds the idempotency retention') end
  return KEYS[first + 2 + offset], KEYS[first + 1 + offset], (floor(now / a[N_RETENTION_MS]) + 2) * a[N_RETENTION_MS]
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
  return state .. spack(OUTCOME_FORMAT .. rep('I4', #present), amount, floor(at_ms / 1000), over_mask, mask, tunpack(present)) .. tail
end

-- The record's state letter, and for a commit: {O_* numbers}, usage {5 counts}, version, model.
local function unpack_outcome(record)
  local state = sub(record, 1, 1)
  if state ~= OUTCOME_COMMITTED_HOLD and state ~= OUTCOME_COMMITTED then return state end
  local o = { sunpack(OUTCOME_FORMAT, record, 2) }
  local pos, usage = o[#o], {}
  for i = 1, 5 do
    if band(o[O_USAGE_MASK], 2 ^ (i - 1)) ~= 0 then
      usage[i], pos = sunpack('<I4', record, pos)
    else
      usage[i] = 0
    end
  end
  local tail = sub(record, pos)
  local tab = find(tail, '\t', 1, true)
  if tab then return state, o, usage, sub(tail, 1, tab - 1), sub(tail, tab + 1) end
  return state, o, usage, tail, string.match(tail, '^(.*)@') or ''
end

-- Bit of limit kind k (1-based in LIMIT_KINDS) of the subject whose field starts with `letter`.
local function over_bit(letter, k)
  return 2 ^ ((find(SCOPE_LETTERS, letter, 1, true) - 1) * #LIMIT_KINDS + k - 1)
end

-- The over-limit list ('k:tpm,o:budget_daily') of a mask.
local function over_list(mask)
  local over = {}
  for si = 1, #SCOPE_LETTERS do
    for k = 1, #LIMIT_KINDS do
      if band(mask, 2 ^ ((si - 1) * #LIMIT_KINDS + k - 1)) ~= 0 then
        over[#over + 1] = sub(SCOPE_LETTERS, si, si) .. ':' .. LIMIT_KINDS[k]
      end
    end
  end
  return concat(over, ',')
end
