-- customer-write.lua — one audited change to customer records (organisations, workspaces,
-- keys, service tokens), all or nothing: every operation is checked before any is applied
-- (Redis does not roll a script back), then the records, their indexes, one audit entry and
-- one change-stream entry per touched entity are written, and a notice is published.
-- Runs on its own (no prelude).
--
-- Every key lives under the customers' hash tag ({cfg}, the configuration's slot), so the
-- script may build record and index names from ARGV[1]: they share the declared keys' slot.
--
-- KEYS[1] change stream   KEYS[2] change sequence counter   KEYS[3] audit stream
-- KEYS[4] set of tier names (kept by config-write)   KEYS[5] hash tier -> organisations and
--         workspaces using it
-- ARGV[1] record key prefix ('tg:{cfg}:c:'): records are <prefix><kind>:<id>, indexes
--         <prefix>all:<kind> (sorted set of ids, score 0), <prefix>ow:<org> (its workspaces),
--         <prefix>wk:<workspace> and <prefix>ok:<org> (their keys), <prefix>th:<sha256>
--         (token id by hash)
-- ARGV[2] change stream length (MAXLEN ~)   ARGV[3] pub/sub channel for the notice
-- ARGV[4] actor   ARGV[5] action ('' writes no audit entry)   ARGV[6] reason
-- ARGV[7] audit old value   ARGV[8] audit new value
-- ARGV[9] number of operations; then 5 arguments per operation:
--         verb ('create', 'put', 'update', 'delete', 'discard', 'equals', 'tiers'), kind ('o', 'w', 'k', 't'),
--         id, record (JSON; '' for delete), expected current record ('' = any; for update
--         it must match byte for byte)
--   'put' creates or replaces (the migration's idempotent write); 'delete' also deletes the
--   entity's workspaces and keys; 'discard' deletes like 'delete' if the entity exists; 'equals' writes nothing: the key named by id must hold
--   the value given as expected (a guard, e.g. the configuration version); 'tiers' replaces
--   the set of tier names with the record's JSON array (with a guard: the document's tiers).
--
-- Replies: {1, last change sequence number} when written; {0, code, kind, id} when refused
-- (nothing written): code 'exists', 'missing' (the entity or its parent), 'tier' (unknown
-- tier; id is its name), 'conflict' (the record changed since it was read), 'parent' (an
-- update may not move an entity to another parent), 'guard' (an 'equals' failed).

local P = ARGV[1]
local count = tonumber(ARGV[9])
local pending = {}
local bodies = {}

local function record(kind, id) return P .. kind .. ':' .. id end
local function exists(kind, id)
  local state = pending[kind .. ':' .. id]
  if state ~= nil then return state end
  return redis.call('EXISTS', record(kind, id)) == 1
end
local function tierKnown(tier)
  return tier == nil or tier == cjson.null or redis.call('SISMEMBER', KEYS[4], tier) == 1
end
local function parent(kind, r)
  if kind == 'w' then return 'o', r.organization end
  if kind == 'k' then return 'w', r.workspace end
  return nil, nil
end

-- Check every operation first.
for i = 0, count - 1 do
  local base = 10 + i * 5
  local verb, kind, id, body, expected = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
  if verb == 'equals' then
    if (redis.call('GET', id) or '') ~= expected then return { 0, 'guard', '', id } end
  elseif verb == 'tiers' or verb == 'discard' then
    -- nothing to check ('tiers' has its guard)
  elseif verb == 'delete' then
    local current = redis.call('GET', record(kind, id))
    if not current or pending[kind .. ':' .. id] == false then return { 0, 'missing', kind, id } end
    if expected ~= '' and current ~= expected then return { 0, 'conflict', kind, id } end
    pending[kind .. ':' .. id] = false
  else
    local r = cjson.decode(body)
    local present = exists(kind, id)
    if verb == 'create' and present then return { 0, 'exists', kind, id } end
    if verb == 'update' then
      local current = redis.call('GET', record(kind, id))
      if not current then return { 0, 'missing', kind, id } end
      if current ~= expected then return { 0, 'conflict', kind, id } end
      local old = cjson.decode(current)
      local _, newParent = parent(kind, r)
      local _, oldParent = parent(kind, old)
      if newParent ~= oldParent or (kind == 't' and r.sha256 ~= old.sha256) then return { 0, 'parent', kind, id } end
    end
    local parentKind, parentID = parent(kind, r)
    if parentKind and not exists(parentKind, parentID) then return { 0, 'missing', parentKind, parentID } end
    if (kind == 'o' or kind == 'w') and not tierKnown(r.tier) then return { 0, 'tier', kind, r.tier } end
    if kind == 't' and verb ~= 'update' then
      local holder = redis.call('GET', P .. 'th:' .. r.sha256)
      if holder and holder ~= id then return { 0, 'exists', kind, id } end
    end
    pending[kind .. ':' .. id] = true
    bodies[kind .. ':' .. id] = r
  end
end

-- Then apply them.
local changes = {}
local function tierUse(r, delta)
  if (r.tier ~= nil and r.tier ~= cjson.null) then redis.call('HINCRBY', KEYS[5], r.tier, delta) end
end
local function link(kind, id, r, add)
  if add then redis.call('ZADD', P .. 'all:' .. kind, 0, id) else redis.call('ZREM', P .. 'all:' .. kind, id) end
  if kind == 'w' then
    if add then redis.call('ZADD', P .. 'ow:' .. r.organization, 0, id) else redis.call('ZREM', P .. 'ow:' .. r.organization, id) end
  elseif kind == 'k' then
    local workspace = bodies['w:' .. r.workspace] or cjson.decode(redis.call('GET', record('w', r.workspace)))
    if add then
      redis.call('ZADD', P .. 'wk:' .. r.workspace, 0, id)
      redis.call('ZADD', P .. 'ok:' .. workspace.organization, 0, id)
    else
      redis.call('ZREM', P .. 'wk:' .. r.workspace, id)
      redis.call('ZREM', P .. 'ok:' .. workspace.organization, id)
    end
  elseif kind == 't' then
    if add then redis.call('SET', P .. 'th:' .. r.sha256, id) else redis.call('DEL', P .. 'th:' .. r.sha256) end
  end
  if kind == 'o' or kind == 'w' then tierUse(r, add and 1 or -1) end
end
local function changed(kind, id, r)
  changes[#changes + 1] = { kind, kind == 't' and r.sha256 or id }
end
local function remove(kind, id)
  local current = redis.call('GET', record(kind, id))
  if not current then return end
  if kind == 'o' then
    for _, child in ipairs(redis.call('ZRANGE', P .. 'ow:' .. id, 0, -1)) do remove('w', child) end
  elseif kind == 'w' then
    for _, child in ipairs(redis.call('ZRANGE', P .. 'wk:' .. id, 0, -1)) do remove('k', child) end
  end
  local r = cjson.decode(current)
  link(kind, id, r, false)
  redis.call('DEL', record(kind, id))
  changed(kind, id, r)
end

for i = 0, count - 1 do
  local base = 10 + i * 5
  local verb, kind, id, body = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  if verb == 'delete' or verb == 'discard' then
    remove(kind, id)
  elseif verb == 'tiers' then
    redis.call('DEL', KEYS[4])
    for _, tier in ipairs(cjson.decode(body)) do redis.call('SADD', KEYS[4], tier) end
  elseif verb ~= 'equals' then
    local r = cjson.decode(body)
    local current = redis.call('GET', record(kind, id))
    if current then link(kind, id, cjson.decode(current), false) end
    redis.call('SET', record(kind, id), body)
    link(kind, id, r, true)
    changed(kind, id, r)
  end
end

local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
for _, change in ipairs(changes) do
  seq = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'seq', seq, 'kind', change[1], 'id', change[2])
end
if ARGV[5] ~= '' then
  local t = redis.call('TIME')
  redis.call('XADD', KEYS[3], '*', 'version', '', 'at', t[1] * 1000 + math.floor(t[2] / 1000),
    'actor', ARGV[4], 'action', ARGV[5], 'reason', ARGV[6], 'old', ARGV[7], 'new', ARGV[8])
end
if #changes > 0 then redis.call('PUBLISH', ARGV[3], seq) end
return { 1, seq }
