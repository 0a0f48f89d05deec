-- release.lua — return a hold: the call never happened (release), or its time ran out (expire).
--
-- KEYS[1] organisation state hash   KEYS[2] request record   KEYS[3] partition hold index
-- ARGV[1] hold index member (org:request_id)
-- ARGV[2] clock offset ms   ARGV[3] timezone offset ms
-- ARGV[4] bucket ms         ARGV[5] buckets per window (K)
-- ARGV[6] idempotency retention ms
-- ARGV[7] 'release', or 'expire' (the monitor: only once the hold's time is up)
--
-- The estimate leaves every window (if its bucket is still in the window) and every budget
-- it was held against, exactly once: the record moves from 'H' to 'R' or 'X'.
--
-- Replies:
--   {1, 'released' | 'expired', estimated tokens, estimated cost (nanos)}  the hold was returned
--   {2, 'released' | 'expired'}   returned before: nothing changed
--   {0, 'committed' | 'unknown' | 'live'}   nothing to return (or, for expire, not due yet)

local existing = redis.call('GET', KEYS[2])
if not existing then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return { 0, 'unknown' }
end
local h = cmsgpack.unpack(existing)
if h[1] == 'C' then return { 0, 'committed' } end
if h[1] == 'R' then return { 2, 'released' } end
if h[1] == 'X' then return { 2, 'expired' } end

local now = now_ms(tonumber(ARGV[2]))
local mode = ARGV[7]
if mode == 'expire' and h[2] > now then return { 0, 'live' } end

local tz = tonumber(ARGV[3])
local bucket_ms = tonumber(ARGV[4])
local K = tonumber(ARGV[5])
local c = math.floor(now / bucket_ms)
local day, month = periods(now, tz)

local levels = hold_levels(h[9], {})
local marker = load_levels(levels, K, c, day, month)

local est_tokens, est_cost = h[7], h[8]
local eu, en = m_norm(0, -est_cost)
for i = 1, #levels do
  local s = levels[i].s
  window_add(s, K, h[4], -est_tokens, -1)
  if h[5] == day then
    s[8], s[9] = m_floor0(m_add(s[8], s[9], eu, en))
    s[11] = math.max(0, s[11] - est_tokens)
  end
  if h[6] == month then
    s[15], s[16] = m_floor0(m_add(s[15], s[16], eu, en))
    s[18] = math.max(0, s[18] - est_tokens)
  end
end
save_levels(levels, marker, month, now, tz)

-- The record keeps the hold's details (model, prices, attribution), so that a late commit
-- of this request can still be priced and attributed.
h[1] = mode == 'expire' and 'X' or 'R'
h[2] = now
redis.call('SET', KEYS[2], cmsgpack.pack(h), 'PX', tonumber(ARGV[6]))
redis.call('ZREM', KEYS[3], ARGV[1])
local outcome = mode == 'expire' and 'expired' or 'released'
return { 1, outcome, est_tokens, string.format('%d', est_cost) }
