--[[
  Register a session (or refresh its presence): add it to the registry, extend its presence
  deadline and store its metadata. Called again on every presence tick, so a session that was
  reaped while its process was frozen comes back by itself.

  KEYS[1] sessions set  KEYS[2] presence zset  KEYS[3] session info hash
  ARGV[1] session id    ARGV[2] presence ttl (ms)
  ARGV[3..] metadata field/value pairs (must include 'instance')

  Returns the previous {instance, pid, host, presence deadline} ('' where unknown).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local sid, ttl = ARGV[1], tonumber(ARGV[2])
local prev = redis.call('HMGET', KEYS[3], 'instance', 'pid', 'host')
local deadline = redis.call('ZSCORE', KEYS[2], sid) or ''
redis.call('SADD', KEYS[1], sid)
redis.call('ZADD', KEYS[2], now + ttl, sid)
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('HSET', KEYS[3], 'seen', now)
return {prev[1] or '', prev[2] or '', prev[3] or '', deadline}
