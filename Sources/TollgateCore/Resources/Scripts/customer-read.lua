-- customer-read.lua — what a gateway needs about one API key or one service token, in one
-- round trip, with the change sequence number the answer is current at (a cache keeps the
-- answer only if no change it has already applied is newer). Read-only; runs on its own.
--
-- Record names are built from ARGV[1]: they share the declared key's slot ({cfg}).
--
-- KEYS[1] change sequence counter
-- ARGV[1] record key prefix ('tg:{cfg}:c:')
-- ARGV[2] 'k' to resolve an API key id, 't' a service token's SHA-256 (lower-case hex)
-- ARGV[3] the key id or the hash
--
-- Replies: {seq, key, workspace, organisation} (records as JSON; any of them false when
-- missing, and the rest after it missing too) for 'k'; {seq, token} for 't'.

local P = ARGV[1]
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[2] == 't' then
  local id = redis.call('GET', P .. 'th:' .. ARGV[3])
  if not id then return { seq, false } end
  return { seq, redis.call('GET', P .. 't:' .. id) }
end
local key = redis.call('GET', P .. 'k:' .. ARGV[3])
if not key then return { seq, false, false, false } end
local workspace = redis.call('GET', P .. 'w:' .. cjson.decode(key).workspace)
if not workspace then return { seq, key, false, false } end
local organization = redis.call('GET', P .. 'o:' .. cjson.decode(workspace).organization)
return { seq, key, workspace, organization or false }
