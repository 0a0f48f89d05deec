-- quota.lua — subjects' windows and budgets as they stand now. Writes nothing.
--
-- KEYS[1] organisation state hash
-- ARGV[1 .. n-1] subject fields ('o', 'w:<id>', 'k:<id>', 'u:<id>')
-- ARGV[n] numbers (doubles): clock offset ms, timezone offset ms, bucket ms, K
--
-- Reply: {now ms, then per field 10 values: window tracked (0/1), window tokens,
--   window requests, ms until the window is empty, day spent, day held (nanos),
--   day tokens (used + held), month spent, month held (nanos), month tokens (used + held)}

local a = { struct.unpack('<dddd', ARGV[#ARGV]) }
local now = now_ms(a[1])
local tz, bucket_ms, K = a[2], a[3], a[4]
local c = math.floor(now / bucket_ms)
local day, month = periods(now, tz)

local function money(u, n)
  if u == 0 then return string.format('%d', n) end
  return string.format('%d%09d', u, n)
end

local fields = {}
for i = 1, #ARGV - 1 do fields[#fields + 1] = ARGV[i] end
local subjects = load_all(fields, {}, K, c, day, month)
local reply = { now }
for i = 1, #fields do
  local s = subjects[i]
  local reset = 0
  if has_ring(s) then
    for j = s[2], s[2] - K + 1, -1 do
      local t, r = slot(s, K, j)
      if t > 0 or r > 0 then
        reset = (j + K) * bucket_ms - now
        break
      end
    end
  end
  for _, v in ipairs({ has_ring(s) and 1 or 0, s[3], s[4], reset, money(s[6], s[7]), money(s[8], s[9]), s[10],
      money(s[12], s[13]), money(s[14], s[15]), s[16] }) do
    reply[#reply + 1] = v
  end
end
return reply
