-- adjust.lua — an audited correction of one subject's budget for the current period.
--
-- KEYS[1] organisation state hash
-- ARGV[1] subject field   ARGV[2] 'day' or 'month'   ARGV[3] 'credit' or 'reset'
-- ARGV[4] amount to credit (nanos, decimal string; ignored for reset)
-- ARGV[5] numbers (doubles): clock offset ms, timezone offset ms, bucket ms, K
--
-- credit: spent -= amount (not below zero); reset: spent = 0. Held amounts are untouched.
-- Reply: {spent before (nanos), spent after (nanos)}

local a = { struct.unpack('<dddd', ARGV[5]) }
local now = now_ms(a[1])
local day, month = periods(now, a[2])
local fields = { ARGV[1] }
local subjects, marker = load_all(fields, {}, a[4], math.floor(now / a[3]), day, month)
local s = subjects[1]
local u, n = 6, 7
if ARGV[2] == 'month' then u, n = 12, 13 end

local function text(units, nanos)
  if units == 0 then return string.format('%d', nanos) end
  return string.format('%d%09d', units, nanos)
end
local before = text(s[u], s[n])
if ARGV[3] == 'reset' then
  s[u], s[n] = 0, 0
else
  local digits = ARGV[4]
  local len = string.len(digits)
  local cu, cn = 0, tonumber(digits)
  if len > 9 then cu, cn = tonumber(string.sub(digits, 1, len - 9)), tonumber(string.sub(digits, len - 8)) end
  s[u], s[n] = madd(s[u], s[n], -cu, -cn)
  if s[u] < 0 then s[u], s[n] = 0, 0 end
end
save_all(fields, subjects, marker, month, now, a[2])
return { before, text(s[u], s[n]) }
