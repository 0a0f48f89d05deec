-- release.lua — return a hold: the call never happened (release), or its time ran out (expire).
--
-- KEYS[1] organisation state hash   KEYS[2] request record   KEYS[3] partition hold index
-- ARGV[1] hold index member (org:request_id)
-- ARGV[2] 'release', or 'expire' (the monitor: only once the hold's time is up)
-- ARGV[3] numbers (doubles): clock offset ms, timezone offset ms, bucket ms, K, idempotency retention ms
--
-- The estimate leaves every window (if its bucket is still in it) and every budget it was
-- held against, exactly once: the record's state moves from 'H' to 'R' or 'X', keeping the
-- reservation's details so that a late commit can still be priced and attributed.
--
-- Replies:
--   {1, 'released' | 'expired', estimated tokens, estimated cost (nanos)}   returned now
--   {2, 'released' | 'expired'}   returned before: nothing changed
--   {0, 'committed' | 'unknown' | 'live'}   nothing to return (for expire: not due yet)

local existing = redis.call('GET', KEYS[2])
if not existing then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return { 0, 'unknown' }
end
local state = string.sub(existing, 1, 1)
if state == 'C' then return { 0, 'committed' } end
if state == 'R' then return { 2, 'released' } end
if state == 'X' then return { 2, 'expired' } end

local a = { struct.unpack('<ddddd', ARGV[3]) }
local now = now_ms(a[1])
local h = { struct.unpack('<dddddddddddddd', existing, 2) }
local mode = ARGV[2]
if mode == 'expire' and h[1] > now then return { 0, 'live' } end

local tz, bucket_ms, K = a[2], a[3], a[4]
local c = math.floor(now / bucket_ms)
local day, month = periods(now, tz)
local rest = string.sub(existing, h[15])
local fields = split_fields(string.sub(rest, 1, string.find(rest, '\n', 1, true) - 1))
local subjects, marker = load_all(fields, {}, K, c, day, month)
for i = 1, #fields do
  window_add(subjects[i], K, h[3], -h[6], -1)
  hold_move(subjects[i], -1, h[7], h[6], h[4], h[5])
end
save_all(fields, subjects, marker, month, now, tz)

local outcome = mode == 'expire' and 'expired' or 'released'
redis.call('SET', KEYS[2], (mode == 'expire' and 'X' or 'R') .. string.sub(existing, 2), 'PX', a[5])
redis.call('ZREM', KEYS[3], ARGV[1])
return { 1, outcome, h[6], string.format('%d', h[7]) }
