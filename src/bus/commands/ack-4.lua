--[[
  Acknowledge delivered events: drop them from the in-flight set and remember their ids as
  delivered (persistent dedup, pruned by claim-8.lua after the dedup window, and here to the
  newest ARGV[3] ids so a flood within the window cannot grow the set without bound).

  An id whose lease already expired was put back in the pending list by recover-3.lua; marking it
  delivered here makes the claim of that copy a duplicate, so it is still delivered once.

  KEYS[1] in-flight hash  KEYS[2] leases zset  KEYS[3] delivered zset  KEYS[4] journal stream
  ARGV[1] session id      ARGV[2] journal cap  ARGV[3] dedup max (ids kept)  ARGV[4..] event ids

  Returns the number of ids that were in flight.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sid, journalCap, dedupMax = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local acked = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  acked = acked + redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[3], now, id)
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', journalCap, '*', 'kind', 'delivered', 'id', id, 'sessions', sid)
end
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(dedupMax + 1))
return acked
