-- adjust.lua — an audited correction of one subject's budget for the current period.
--
-- KEYS[1] organisation state hash
-- ARGV[1] subject field   ARGV[2] 'day' or 'month'   ARGV[3] 'credit' or 'reset'
-- ARGV[4] amount to credit (nanos, decimal string; ignored for reset)
-- ARGV[5] numbers: N_*, then T_*
--
-- credit: spent -= amount (not below zero); reset: spent = 0. Held amounts and the window are
-- untouched (only the subject's header is rewritten).
-- Reply (AdjustReply in Swift): {spent before (nanos), spent after (nanos)}

if not floor then bind() end
local a = numbers(ARGV[5])
local now, tz, _, K, c, day, month = moment(a)
local fields = { ARGV[1] }
local raw = read({ 'x' }, fields, K, c)
local subjects = subjects_of(raw, 2, fields, {}, K, c, day, month, false)
local s = subjects[1]
local u, n = S_DAY_SPENT_U, S_DAY_SPENT_N
if ARGV[2] == 'month' then u, n = S_MONTH_SPENT_U, S_MONTH_SPENT_N end

local function text(units, nanos)
  if units == 0 then return format('%d', nanos) end
  return format('%d%09d', units, nanos)
end
local before = text(s[u], s[n])
if ARGV[3] == 'reset' then
  s[u], s[n] = 0, 0
else
  local digits = ARGV[4]
  local len = string.len(digits)
  local cu, cn = 0, tonumber(digits)
  if len > 9 then cu, cn = tonumber(sub(digits, 1, len - 9)), tonumber(sub(digits, len - 8)) end
  s[u], s[n] = madd(s[u], s[n], -cu, -cn)
  if s[u] < 0 then s[u], s[n] = 0, 0 end
end
save_all(subjects, raw[1], month, now, tz)
return { before, text(s[u], s[n]) }
