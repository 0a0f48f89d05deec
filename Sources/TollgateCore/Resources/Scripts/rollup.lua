-- rollup.lua — add a batch of ledger entries to the usage roll-ups, exactly once each.
-- Runs on its own (no prelude).
--
-- Each entry is acknowledged (XACK) in the same script that counts it: an entry counts only
-- if this call is the one that acknowledged it. A monitor that dies mid-batch leaves its
-- entries pending; another monitor claims them (XAUTOCLAIM) and counts them here, and an
-- entry acknowledged before can never be counted again.
--
-- KEYS[1]    the partition's ledger stream
-- KEYS[2..n] roll-up keys of this batch (hashes), then hourly cost keys (strings)
-- ARGV[1] consumer group   ARGV[2] entry count E   ARGV[3] count of roll-up hash keys H
-- ARGV[4 .. n+2] seconds to keep each key, in KEYS order from KEYS[2] (n-1 values: KEYS[k]'s is ARGV[k+2])
-- then 15 values per entry: stream id, dimensions ("workspace\tkey\tmodel\tuser\tfeature\texperiment"),
--   index in KEYS of its hour, day and month roll-up, index of its hourly cost key,
--   input, cached input, cache write, output, reasoning tokens, cost (nanos),
--   estimated tokens (0: not reserved), cache hit (-1 unknown, 0, 1),
--   latency field ('@latency\t<model>\t<bucket ms or inf>', or '' when no latency was given)
--
-- A roll-up hash field is "<dimensions>\t<metric>", metric one of requests, input,
-- cached_input, cache_write, output, reasoning, cost, and where known estimated and
-- estimated_actual (the estimate and the actual tokens of reserved requests), cache_known
-- and cache_hits; plus one latency histogram field per model and bucket (a count).
-- Reply: one character per entry, in ARGV order: '1' if this call counted it, '0' if it
-- had been acknowledged before.

local METRICS = { 'requests', 'input', 'cached_input', 'cache_write', 'output', 'reasoning', 'cost' }
local LARGE = 70368744177664 -- 2^46: larger costs are added one by one, never summed in Lua
local group, E, H = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = #KEYS
local base = 3 + (n - 1)
local sums, hourly, counted = {}, {}, {}

for i = 0, E - 1 do
  local b = base + i * 15
  local acknowledged = redis.call('XACK', KEYS[1], group, ARGV[b + 1]) == 1
  counted[i + 1] = acknowledged and '1' or '0'
  if acknowledged then
    local dims, cost = ARGV[b + 2], tonumber(ARGV[b + 12])
    local estimated, cache, latency = tonumber(ARGV[b + 13]), tonumber(ARGV[b + 14]), ARGV[b + 15]
    local actual = 0
    for m = 2, 6 do actual = actual + tonumber(ARGV[b + 5 + m]) end
    for k = 3, 5 do
      local key = tonumber(ARGV[b + k])
      local fields = sums[key]
      if not fields then fields = {}; sums[key] = fields end
      fields[dims .. '\trequests'] = (fields[dims .. '\trequests'] or 0) + 1
      for m = 2, 6 do
        local field = dims .. '\t' .. METRICS[m]
        fields[field] = (fields[field] or 0) + tonumber(ARGV[b + 5 + m])
      end
      if estimated > 0 then
        fields[dims .. '\testimated'] = (fields[dims .. '\testimated'] or 0) + estimated
        fields[dims .. '\testimated_actual'] = (fields[dims .. '\testimated_actual'] or 0) + actual
      end
      if cache >= 0 then
        fields[dims .. '\tcache_known'] = (fields[dims .. '\tcache_known'] or 0) + 1
        fields[dims .. '\tcache_hits'] = (fields[dims .. '\tcache_hits'] or 0) + cache
      end
      if latency ~= '' then fields[latency] = (fields[latency] or 0) + 1 end
      if cost >= LARGE then
        redis.call('HINCRBY', KEYS[key], dims .. '\tcost', ARGV[b + 12])
      else
        fields[dims .. '\tcost'] = (fields[dims .. '\tcost'] or 0) + cost
      end
    end
    local hc = tonumber(ARGV[b + 6])
    if cost >= LARGE then
      redis.call('INCRBY', KEYS[hc], ARGV[b + 12])
    else
      hourly[hc] = (hourly[hc] or 0) + cost
    end
  end
end

for key, fields in pairs(sums) do
  for field, value in pairs(fields) do
    if value ~= 0 then redis.call('HINCRBY', KEYS[key], field, value) end
  end
  redis.call('EXPIRE', KEYS[key], ARGV[2 + key])
end
for key, cost in pairs(hourly) do
  if cost ~= 0 then redis.call('INCRBY', KEYS[key], cost) end
  redis.call('EXPIRE', KEYS[key], ARGV[2 + key])
end
return table.concat(counted)
