-- config-write.lua — replace the configuration document, all or nothing, if nobody else
-- changed it since it was read (optimistic versioning); audit it and tell the gateways.
-- Runs on its own (no prelude).
--
-- KEYS[1] configuration document   KEYS[2] configuration version   KEYS[3] audit stream
-- KEYS[4] set of tier names (customer-write checks a tier exists there)
-- KEYS[5] hash tier -> organisations and workspaces using it (kept by customer-write)
-- ARGV[1] the version the change was made against ('0' for none yet)
-- ARGV[2] the new document (JSON)
-- ARGV[3] pub/sub channel for the notice
-- ARGV[4] actor   ARGV[5] action (e.g. 'price set gpt-4.1')   ARGV[6] reason
-- ARGV[7] old value (JSON or '')   ARGV[8] new value (JSON or '')
-- ARGV[9] '1' to skip the tier-in-use check (the document carries customers that will
--         replace the stored ones), else '0'
-- ARGV[10...] the new document's tier names
--
-- Replies: {1, new version, audit entry id}; {0, current version} when the document
-- changed meanwhile (nothing is written; re-read and try again); {2, tier} when the change
-- removes a tier some organisation or workspace still uses (nothing is written).

local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then return { 0, current } end
local kept = {}
for i = 10, #ARGV do kept[ARGV[i]] = true end
if ARGV[9] ~= '1' then
  for _, tier in ipairs(redis.call('HKEYS', KEYS[5])) do
    if not kept[tier] and tonumber(redis.call('HGET', KEYS[5], tier)) > 0 then return { 2, tier } end
  end
end
redis.call('DEL', KEYS[4])
if #ARGV >= 10 then redis.call('SADD', KEYS[4], unpack(ARGV, 10)) end
local version = current + 1
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], version)
local t = redis.call('TIME')
local id = redis.call('XADD', KEYS[3], '*', 'version', version, 'at', t[1] * 1000 + math.floor(t[2] / 1000),
  'actor', ARGV[4], 'action', ARGV[5], 'reason', ARGV[6], 'old', ARGV[7], 'new', ARGV[8])
redis.call('PUBLISH', ARGV[3], version)
return { 1, version, id }
