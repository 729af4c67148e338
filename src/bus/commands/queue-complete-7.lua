--[[
  A turn is answered: every command it ran (one, or all the event commands batched into it) is
  marked done (so a replay after a crash cannot answer it again), acknowledged and deleted from
  its stream, its started/retry marks cleared, and the turn recorded for the load figures
  (turns/s, events per turn), all in one step: a crash leaves either the whole batch pending or
  none of it.

  KEYS[1] done zset   KEYS[2] started hash   KEYS[3] retry hash   KEYS[4] turns stream
  KEYS[5] human stream   KEYS[6] event stream   KEYS[7] heartbeat stream
  ARGV[1] consumer group   ARGV[2] dedup window (ms)   ARGV[3] events the turn carried
  ARGV[4] turns stream cap   ARGV[5] most ids kept in the done zset (GATEWAY_DEDUP_MAX)
  ARGV[6..] triples of (stream index 1-3, stream id, command id)

  Returns the number of entries acknowledged.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local group, window, events, turnsCap, dedupMax = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local acked = 0
for i = 6, #ARGV, 3 do
  local stream = KEYS[4 + tonumber(ARGV[i])]
  redis.call('ZADD', KEYS[1], now, ARGV[i + 2])
  acked = acked + redis.call('XACK', stream, group, ARGV[i + 1])
  redis.call('XDEL', stream, ARGV[i + 1])
  redis.call('HDEL', KEYS[2], ARGV[i + 2])
  redis.call('HDEL', KEYS[3], ARGV[i + 2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
-- Bounded by count too: the oldest answered ids go first (a replay that old is answered again).
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(dedupMax + 1))
redis.call('XADD', KEYS[4], 'MAXLEN', '~', turnsCap, '*', 'events', events)
return acked
