-- quota.lua — read subjects' windows and budgets as they stand now. Writes nothing.
--
-- KEYS[1] organisation state hash
-- ARGV[1] clock offset ms   ARGV[2] timezone offset ms
-- ARGV[3] bucket ms         ARGV[4] buckets per window (K)
-- ARGV[5..] subject fields ('o', 'w:<id>', 'k:<id>', 'u:<id>')
--
-- Reply: {now ms, then per field 10 values:
--   window tracked (0/1), window tokens, window requests, ms until the window is empty,
--   day spent, day held (nanos), day tokens used + held,
--   month spent, month held (nanos), month tokens used + held}

local now = now_ms(tonumber(ARGV[1]))
local tz = tonumber(ARGV[2])
local bucket_ms = tonumber(ARGV[3])
local K = tonumber(ARGV[4])
local c = math.floor(now / bucket_ms)
local day, month = periods(now, tz)

local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
local raw = redis.call('HMGET', KEYS[1], unpack(fields))
local reply = { now }
for i = 1, #fields do
  local s = load(raw[i], nil, K, c, day, month)
  local tracked = s.ring ~= '' and 1 or 0
  for _, v in ipairs({ tracked, s[3], s[4], window_reset(s, K, bucket_ms, now),
      m_str(s[6], s[7]), m_str(s[8], s[9]), s[10] + s[11],
      m_str(s[13], s[14]), m_str(s[15], s[16]), s[17] + s[18] }) do
    reply[#reply + 1] = v
  end
end
return reply
