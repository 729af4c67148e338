--[[
  Store a command durably, once. A command whose id was seen within the dedup window (a retried
  webhook, a Telegram update delivered again, a re-drained event) is not stored again.

  KEYS[1] seen zset (command id -> time first seen)   KEYS[2] the priority's stream
  ARGV[1] command id   ARGV[2] command JSON   ARGV[3] dedup window (ms)
  ARGV[4] dedup max: the seen set keeps only the newest this many ids (bounded by count as well as time)
  ARGV[5..] further ids this command stands for (the events of a batch), marked seen with it

  Returns {'queued', streamId} | {'duplicate'}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'duplicate'} end
redis.call('ZADD', KEYS[1], now, ARGV[1])
for i = 5, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
local streamId = redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'command', ARGV[2])
return {'queued', streamId}
