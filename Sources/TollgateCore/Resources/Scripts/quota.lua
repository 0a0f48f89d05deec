-- quota.lua — subjects' windows and budgets as they stand now. Writes nothing.
--
-- KEYS[1] organisation state hash
-- ARGV[1 .. n-1] subject fields ('o', 'w:<id>', 'k:<id>', 'u:<id>')
-- ARGV[n] numbers: N_*, then T_*
--
-- Reply (QuotaReply in Swift): {now ms, then per field 10 values: window tracked (0/1), window
--   tokens, window requests, ms until the window is empty, day spent, day held (nanos),
--   day tokens (used + held), month spent, month held (nanos), month tokens (used + held)}

if not floor then bind() end
local a = numbers(ARGV[#ARGV])
local now, tz, bucket_ms, K, c, day, month = moment(a)

local function money(u, n)
  if u == 0 then return format('%d', n) end
  return format('%d%09d', u, n)
end

local fields = {}
for i = 1, #ARGV - 1 do fields[#fields + 1] = ARGV[i] end
local subjects = subjects_of(read({}, fields, K, c), 1, fields, {}, K, c, day, month)
local reply = { now }
for i = 1, #fields do
  local s = subjects[i]
  local reset = 0
  if windowed(s) then
    for j = s[S_NEWEST], s[S_NEWEST] - K + 1, -1 do
      local t, r = slot(s, K, j)
      if t > 0 or r > 0 then
        reset = (j + K) * bucket_ms - now
        break
      end
    end
  end
  for _, v in ipairs({ windowed(s) and 1 or 0, s[S_WINDOW_TOKENS], s[S_WINDOW_REQUESTS], reset,
      money(s[S_DAY_SPENT_U], s[S_DAY_SPENT_N]), money(s[S_DAY_HELD_U], s[S_DAY_HELD_N]), s[S_DAY_TOKENS],
      money(s[S_MONTH_SPENT_U], s[S_MONTH_SPENT_N]), money(s[S_MONTH_HELD_U], s[S_MONTH_HELD_N]), s[S_MONTH_TOKENS] }) do
    reply[#reply + 1] = v
  end
end
return reply
