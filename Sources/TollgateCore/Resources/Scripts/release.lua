-- release.lua — return a hold: the call never happened (release), or its time ran out (expire).
--
-- KEYS[1] organisation state hash   KEYS[2] partition hold index
-- KEYS[3] the request's details (kept for a late commit)
-- KEYS[4 .. 7] the request's idempotency slice buckets (client slices -2 .. +1)
-- ARGV[1] request digest   ARGV[2] hold index member (org:request_id)   ARGV[3] hold field
-- ARGV[4] 'release', or 'expire' (the monitor: only once the hold's time is up)
-- ARGV[5] numbers: N_*, then T_*
--
-- The estimate leaves every window (if its bucket is still in it) and every budget it was
-- held against, exactly once: the hold leaves the state hash, the outcome 'R' or 'X' goes into
-- the current idempotency slice, and the reservation's bytes into KEYS[3] (for two retentions)
-- so that a late commit can still be priced and attributed.
--
-- Replies (ReleaseReply in Swift):
--   {RELEASE_RETURNED, 'released' | 'expired', estimated tokens, estimated cost (nanos)}   returned now
--   {RELEASE_BEFORE, 'released' | 'expired'}   returned before: nothing changed
--   {RELEASE_NOTHING, 'committed' | 'unknown' | 'live'}   nothing to return (for expire: not due yet)

if not floor then bind() end
local a = numbers(ARGV[5])
local now, tz, bucket_ms, K, c, day, month = moment(a)
local current, previous, slice_end = slices(4, now, a)
local raw = redis.call('HGET', KEYS[1], ARGV[3])
if not raw then
  local outcome = outcome_of(current, previous)
  local state = outcome and sub(outcome, 1, 1)
  if state == OUTCOME_RELEASED then return { RELEASE_BEFORE, 'released' } end
  if state == OUTCOME_EXPIRED then return { RELEASE_BEFORE, 'expired' } end
  if state then return { RELEASE_NOTHING, 'committed' } end
  redis.call('ZREM', KEYS[2], ARGV[2])
  return { RELEASE_NOTHING, 'unknown' }
end
local h, fields = unpack_hold(raw)
local mode = ARGV[4]
if mode == 'expire' and h[H_EXPIRY] > now then return { RELEASE_NOTHING, 'live' } end

local state = read({ 'x' }, fields, K, c)
local subjects = subjects_of(state, 2, fields, {}, K, c, day, month)
prefetch(subjects, K, h[H_BUCKET])
for i = 1, #fields do
  window_add(subjects[i], K, h[H_BUCKET], -h[H_ESTIMATED_TOKENS], -1)
  hold_move(subjects[i], -1, h[H_ESTIMATED_COST], h[H_ESTIMATED_TOKENS], h[H_DAY], h[H_MONTH])
end
save_all(subjects, state[1], month, now, tz)
redis.call('HDEL', KEYS[1], ARGV[3])

local outcome = mode == 'expire' and 'expired' or 'released'
redis.call('SET', KEYS[3], raw, 'PX', 2 * a[N_RETENTION_MS])
keep_outcome(current, slice_end, mode == 'expire' and OUTCOME_EXPIRED or OUTCOME_RELEASED)
redis.call('ZREM', KEYS[2], ARGV[2])
return { RELEASE_RETURNED, outcome, h[H_ESTIMATED_TOKENS], format('%d', h[H_ESTIMATED_COST]) }
