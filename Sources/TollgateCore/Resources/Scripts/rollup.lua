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
-- then 18 values per entry: stream id, dimensions ("workspace\tkey\tmodel\tuser\tfeature\texperiment"),
--   index in KEYS of its hour, day and month roll-up, index of its hourly cost key,
--   input, cached input, cache write, output, reasoning tokens, cost (nanos),
--   estimated tokens (0: not reserved), cache hit (-1 unknown, 0, 1),
--   latency field ('@latency\t<model>\t<bucket ms or inf>', or '' when no latency was given),
--   organization, index in KEYS of the first of its day's and of its month's 7 overview keys
--   (0: none) — the partition's totals, models, details, and rankings of organisations,
--   users, features and experiments (KeyLayout.overview*; OverviewRollups.swift reads them)
--
-- A roll-up hash field is "<dimensions>\t<metric>", metric one of requests, input,
-- cached_input, cache_write, output, reasoning, cost, and where known estimated and
-- estimated_actual (the estimate and the actual tokens of reserved requests), cache_known
-- and cache_hits; plus one latency histogram field per model and bucket (a count).
--
-- The overview keys hold the same entries summed over the partition's organisations: totals
-- "<metric>"; models "<model>\t<metric>" and latency fields; details "o\t<org>\t<metric>" and
-- "<u|f|x>\t<org>\t<value>\t<requests|cost>"; rankings (sorted sets) scored by cost, members
-- "<org>" and "<org>\t<value>".
-- Reply: one character per entry, in ARGV order: '1' if this call counted it, '0' if it
-- had been acknowledged before.

local METRICS = { 'requests', 'input', 'cached_input', 'cache_write', 'output', 'reasoning', 'cost' }
local LARGE = 70368744177664 -- 2^46: larger costs are added one by one, never summed in Lua
local group, E, H = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = #KEYS
local base = 3 + (n - 1)
local sums, ranks, hourly, counted = {}, {}, {}, {}

local function add(key, field, value)
  local fields = sums[key]
  if not fields then fields = {}; sums[key] = fields end
  fields[field] = (fields[field] or 0) + value
end

-- A cost field: summed in Lua below LARGE, added by Redis itself above.
local function addCost(key, field, cost, text)
  if cost >= LARGE then redis.call('HINCRBY', KEYS[key], field, text) else add(key, field, cost) end
end

local function rank(key, member, cost)
  local members = ranks[key]
  if not members then members = {}; ranks[key] = members end
  members[member] = (members[member] or 0) + cost
end

for i = 0, E - 1 do
  local b = base + i * 18
  local acknowledged = redis.call('XACK', KEYS[1], group, ARGV[b + 1]) == 1
  counted[i + 1] = acknowledged and '1' or '0'
  if acknowledged then
    local dims, cost, costText = ARGV[b + 2], tonumber(ARGV[b + 12]), ARGV[b + 12]
    local estimated, cache, latency = tonumber(ARGV[b + 13]), tonumber(ARGV[b + 14]), ARGV[b + 15]
    local actual = 0
    for m = 2, 6 do actual = actual + tonumber(ARGV[b + 5 + m]) end
    -- This entry's metrics other than cost, as "metric" -> value.
    local values = { requests = 1 }
    for m = 2, 6 do values[METRICS[m]] = tonumber(ARGV[b + 5 + m]) end
    if estimated > 0 then values.estimated = estimated; values.estimated_actual = actual end
    if cache >= 0 then values.cache_known = 1; values.cache_hits = cache end
    for k = 3, 5 do
      local key = tonumber(ARGV[b + k])
      for metric, value in pairs(values) do add(key, dims .. '\t' .. metric, value) end
      if latency ~= '' then add(key, latency, 1) end
      addCost(key, dims .. '\tcost', cost, costText)
    end
    local hc = tonumber(ARGV[b + 6])
    if cost >= LARGE then
      redis.call('INCRBY', KEYS[hc], costText)
    else
      hourly[hc] = (hourly[hc] or 0) + cost
    end
    local organization = ARGV[b + 16]
    local _, _, model, user, feature, experiment = string.match(dims, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$')
    for o = 17, 18 do
      local first = tonumber(ARGV[b + o])
      if first > 0 and model then
        local totals, models, details = first, first + 1, first + 2
        for metric, value in pairs(values) do
          add(totals, metric, value)
          add(models, model .. '\t' .. metric, value)
          add(details, 'o\t' .. organization .. '\t' .. metric, value)
        end
        if latency ~= '' then add(models, latency, 1) end
        addCost(totals, 'cost', cost, costText)
        addCost(models, model .. '\tcost', cost, costText)
        addCost(details, 'o\t' .. organization .. '\tcost', cost, costText)
        rank(first + 3, organization, cost)
        for d, value in pairs({ u = user, f = feature, x = experiment }) do
          local stem = d .. '\t' .. organization .. '\t' .. value .. '\t'
          add(details, stem .. 'requests', 1)
          addCost(details, stem .. 'cost', cost, costText)
          rank(first + (d == 'u' and 4 or d == 'f' and 5 or 6), organization .. '\t' .. value, cost)
        end
      end
    end
  end
end

for key, fields in pairs(sums) do
  for field, value in pairs(fields) do
    if value ~= 0 then redis.call('HINCRBY', KEYS[key], field, value) end
  end
  redis.call('EXPIRE', KEYS[key], ARGV[2 + key])
end
for key, members in pairs(ranks) do
  for member, cost in pairs(members) do redis.call('ZINCRBY', KEYS[key], cost, member) end
  redis.call('EXPIRE', KEYS[key], ARGV[2 + key])
end
for key, cost in pairs(hourly) do
  if cost ~= 0 then redis.call('INCRBY', KEYS[key], cost) end
  redis.call('EXPIRE', KEYS[key], ARGV[2 + key])
end
return table.concat(counted)
