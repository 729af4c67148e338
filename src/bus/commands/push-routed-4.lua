--[[
  Push, step 3 of 3, the global slot, once every target has the event: the id counts as pushed
  (a retry within the dedup window is then a `duplicate`), the fan-out in progress is closed, the
  push is counted once (`pushed`, whatever its fan-out) and journaled.

  KEYS[1] pushed zset    KEYS[2] journal stream   KEYS[3] counters hash   KEYS[4] fan-out in progress
  ARGV[1] event id       ARGV[2] raw event JSON   ARGV[3] event type      ARGV[4] event source
  ARGV[5] targets (comma-separated)               ARGV[6] journal cap     ARGV[7] dedup max
]]
local id, raw = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, id)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[7]) + 1))
redis.call('DEL', KEYS[4])
-- The journal is for reading back what happened, not a second copy of the queue: large bodies are cut.
local journaled = raw
if #raw > 4096 then journaled = string.sub(raw, 1, 4096) .. '...(' .. #raw .. ' bytes)' end
redis.call('HINCRBY', KEYS[3], 'pushed', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', tonumber(ARGV[6]), '*',
  'kind', 'pushed', 'id', id, 'type', ARGV[3], 'source', ARGV[4], 'sessions', ARGV[5], 'event', journaled)
return 1
